"""End to end through the real CLI: the `atlassian`, `openai` and `anthropic` collectors
against their demo fakes, with the demo roster, and an IaC tree that exposes some of the
planted keys (correlated by the providers' redacted forms). Residue and near misses are
planted in fixtures/fake_saas/ (see each demo_* docstring)."""

from __future__ import annotations

import json
import shutil

import pytest

from fixtures.fake_saas import anthropic, atlassian, openai
from tests.conftest import ROOT, run_cli, write_config

ALICE, BOB, CAROL = (f"{n}@example.com" for n in ("alice", "bob", "carol"))


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    servers = {"openai": openai.start_demo(), "anthropic": anthropic.start_demo(),
               "atlassian": atlassian.start_demo(page_size=2)}
    plant_agents(servers["openai"])
    tmp = tmp_path_factory.mktemp("saas-tokens")
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp / "roster.csv")
    infra = tmp / "infra"
    infra.mkdir()
    (infra / "app.env").write_text(f"OPENAI_API_KEY={openai.KEYS['alice-laptop']}\n"
                                   f"ANTHROPIC_API_KEY={anthropic.KEYS['alice-prod']}\n"
                                   f"JIRA_TOKEN={atlassian.KEYS['alice-jira-sync']}\n")
    # an agent's MCP config: alice's live key in one server (residue), bob's in another (near miss)
    (infra / ".cursor").mkdir()
    (infra / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "openai-tools": {"url": "https://mcp.example.com/sse",
                         "headers": {"Authorization": f"Bearer {openai.KEYS['alice-laptop']}"}},
        "reports": {"command": "npx", "args": ["-y", "reports-mcp"],
                    "env": {"OPENAI_API_KEY": openai.KEYS["bob-reporting"]}}}}, indent=2))
    # near miss: a key the inventory does not list (carol's, deleted)
    (infra / "old.env").write_text(f"OPENAI_API_KEY={openai.KEYS['carol-deleted']}\n")
    cfg = write_config(tmp, {"roster": [{"csv": "roster.csv"}], "collectors": {
        "openai": [{"admin_key": "${OPENAI_ADMIN_KEY}", "base_url": servers["openai"].url, "name": "acme"}],
        "anthropic": [{"admin_key": "${ANTHROPIC_ADMIN_KEY}", "base_url": servers["anthropic"].url,
                       "name": "acme", "usage_window_days": 60}],
        "atlassian": [{"org_id": atlassian.ORG_ID, "api_key": "${ATLASSIAN_KEY}",
                       "base_url": servers["atlassian"].url, "name": "acme"}],
        "iac": [{"path": "infra"}]},
        "policy": {"unused_after_days": 180}})
    env = {"OPENAI_ADMIN_KEY": openai.DEMO_ADMIN_KEY, "ANTHROPIC_ADMIN_KEY": anthropic.DEMO_ADMIN_KEY,
           "ATLASSIAN_KEY": atlassian.DEMO_ADMIN_KEY}
    scan = run_cli("scan", "-c", str(cfg), "-q", env=env)
    report = run_cli("report", "-c", str(cfg), "--format", "json", env=env)
    yield {"servers": servers, "cfg": cfg, "env": env, "scan": scan, "tmp": tmp,
           "report": json.loads(report.stdout) if report.returncode == 0 else report}
    for s in servers.values():
        s.stop()


def plant_agents(server) -> None:
    """Two agent service accounts (named as agents): one created by alice (her sponsor
    left: residue), one by bob (near miss); and a key named as an agent's, held by alice."""
    pid = openai.PAYMENTS
    alice = next(u for u in server.users if u["id"] == openai.ALICE)
    bob = next(u for u in server.users if u["id"] == openai.BOB)
    for sid, name, who in (("svc_acct_support", "support-agent", alice), ("svc_acct_report", "report-agent", bob)):
        server.service_accounts[pid].append(openai.service_account(sid, name, "member", openai.ago(30)))
        server.audit_logs.insert(0, openai.audit_event("service_account.created", openai.ago(30), who,
                                                       {"id": sid, "data": {"role": "member"}}))
    laptop = next(k for k in server.project_keys[pid] if k["name"] == "alice-laptop")
    server.project_keys[pid].append({**laptop, "id": "key_triage_agent", "name": "triage-agent",
                                     "redacted_value": "sk-proj-zzz...zzz"})


def findings(report, **match):
    return [f for f in report["findings"] if all(f.get(k) == v for k, v in match.items())]


def test_every_source_read_only_and_ok(estate):
    assert estate["scan"].returncode == 1, estate["scan"].stderr[-2000:]
    cov = {(c["collector"], c["target"]): c["status"] for c in estate["report"]["coverage"]}
    for name in ("openai", "anthropic", "atlassian"):
        assert cov[(f"{name}:acme", "acme")] == "ok", cov
        assert estate["servers"][name].writes == []
    data = (estate["tmp"] / "residual.duckdb").read_bytes()
    for key in (openai.KEYS["alice-laptop"], anthropic.KEYS["alice-prod"], openai.DEMO_ADMIN_KEY):
        assert key.encode() not in data


def test_keys_of_a_leaver_still_active(estate):
    r = estate["report"]
    used = {(f["system"], f["object"]["name"]) for f in findings(r, rule="credential.used_after_termination",
                                                                  identity=ALICE)}
    assert used >= {("openai", "terraform-admin"), ("openai", "alice-laptop"), ("anthropic", "alice-prod"),
                    ("atlassian", "jira-sync script")}
    # near misses: alice's inactive Anthropic key, carol's archived one, bob's keys
    names = {f["object"]["name"] for f in r["findings"] if f["identity"] == ALICE and f["system"] == "anthropic"}
    assert "alice-old" not in names
    assert not findings(r, identity=CAROL, system="anthropic")
    assert not findings(r, identity=BOB, rule="credential.used_after_termination")


def test_keys_unused_past_the_policy(estate):
    r = estate["report"]
    unused = {(f["system"], f["object"]["name"]) for f in findings(r, rule="credential.unused")}
    assert ("openai", "old-batch") in unused and ("atlassian", "old laptop") in unused
    assert ("anthropic", "batch-nightly") in unused  # no use in the 60-day usage window
    nightly, = [f for f in findings(r, rule="credential.unused") if f["object"]["name"] == "batch-nightly"]
    assert nightly["evidence"]["never_used"] is False and nightly["evidence"]["no_use_within_days"] == 60
    # near misses: keys in use, and erin's Atlassian token made 10 days ago, never used
    assert not unused & {("openai", "reporting"), ("anthropic", "bob-default"),
                         ("atlassian", "ci-reporting"), ("atlassian", "confluence export")}


def test_service_account_whose_creator_left(estate):
    r = estate["report"]
    sa = findings(r, rule="nhi.owner_terminated", system="openai")
    assert sorted((f["object"]["name"], f["identity"]) for f in sa) == [("support-agent", ALICE), ("svc-deploy", ALICE)]
    # near misses: metrics-export and report-agent, created by bob


def test_exposed_keys_correlate_to_the_inventories(estate):
    r = estate["report"]
    live = findings(r, rule="exposure.live_credential", identity=ALICE)
    assert {f["evidence"]["credential"].split("|", 1)[0] for f in live} == {"openai:acme", "anthropic:acme"}
    # Atlassian lists no part of a token's value: its exposure stays uncorrelated (said so)
    jira = [f for f in findings(r, rule="exposure.secret") if f["evidence"]["hint"].startswith("ATATT")]
    assert len(jira) == 1 and jira[0]["identity"] is None
    carol = [f for f in findings(r, rule="exposure.secret") if f["location"]["path"].endswith("old.env")]
    assert len(carol) == 1 and "credential" not in carol[0]["evidence"]


def test_plan_steps_are_each_providers_delete_call(estate):
    p = run_cli("plan", "-c", str(estate["cfg"]), ALICE, "--format", "sh", env=estate["env"])
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    assert f"/v1/organization/admin_api_keys/{openai.KEY_IDS['alice-admin']}" in out
    assert f"/v1/organization/projects/{openai.PAYMENTS}/api_keys/{openai.KEY_IDS['alice-laptop']}" in out
    assert f"/v1/organizations/api_keys/{anthropic.KEY_IDS['alice-prod']}" in out and '"archived"' in out
    assert f"/users/{atlassian.ALICE}/manage/api-tokens/{atlassian.TOKEN_IDS['alice-jira-sync']}" in out


def test_agents_acting_for_a_leaver(estate):
    r = estate["report"]
    hits = findings(r, rule="agent.acting_for_leaver", identity=ALICE)
    by_kind = {f["object"]["kind"]: f for f in hits}
    mcp = by_kind["mcp_server"]
    assert mcp["object"]["name"] == "openai-tools" and mcp["severity"] == "critical"  # used after she left
    assert mcp["location"]["path"].endswith(".cursor/mcp.json")
    assert by_kind["api_key"]["object"]["name"] == "triage-agent"
    assert by_kind["service_account"]["object"]["name"] == "support-agent"
    names = {f["object"]["name"] for f in findings(r, rule="agent.acting_for_leaver")}
    assert "reports" not in names and "report-agent" not in names  # bob's: near misses
    p = run_cli("plan", "-c", str(estate["cfg"]), ALICE, "--format", "json", env=estate["env"])
    steps = [s for s in json.loads(p.stdout)["steps"] if s["rule"] == "agent.acting_for_leaver"]
    assert any("openai-tools" in s["command"] for s in steps)

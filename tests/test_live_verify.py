"""`residual verify --live`: the real collectors against the demo estate (moto for AWS,
the fakes for GitHub, GitLab, Kubernetes, Okta and SCIM), a full scan first, then a
targeted verify of alice. It must ask only about her where the collector narrows
(request paths and AWS operation parameters per fake), give the same per-layer verdict
and the same findings for her as the full scan, and never write. The revocation plan of
that scan maps every finding to a concrete step."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack

import pytest
import yaml
from botocore.handlers import BUILTIN_HANDLERS

from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from fixtures.demo import run as demo
from scanner.config import load_config
from scanner.core.model import Finding
from scanner.core.store import Inventory
from scanner.engine import overall
from scanner.pipeline import run_scan
from tests.conftest import NOW, ROOT, run_cli

ALICE = "alice@example.com"
OKTA_ALICE = "00ualice0000000000a1"
SCIM_ALICE = "5f1c0a9e-0001-4a6b-9a01-a11ce0000001"


class RecordingStack(ExitStack):
    """The demo's parts register each server's ``stop``; keep the servers to count."""

    def __init__(self) -> None:
        super().__init__()
        self.servers: list = []

    def callback(self, fn, *a, **kw):
        owner = getattr(fn, "__self__", None)
        if owner is not None:
            self.servers.append(owner)
        return super().callback(fn, *a, **kw)


class AwsCalls:
    """Every AWS operation the collector's clients make, with its parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, params=None, model=None, **_):
        if model is not None:
            self.calls.append((model.name, dict(params or {})))

    def users_asked(self, op: str) -> set[str]:
        return {p.get("UserName") for name, p in self.calls if name == op}


def _by_kind(servers, cls_name):
    return next(s for s in servers if type(s).__name__ == cls_name)


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for k, v in {**FAKE_ENV, "RESIDUAL_NOW": NOW.isoformat()}.items():
        mp.setenv(k, v)
    out = tmp_path_factory.mktemp("live")
    (out / "roster.csv").write_text((ROOT / "fixtures" / "demo" / "roster.csv").read_text())
    config = {"inventory": "residual.duckdb", "roster": [{"csv": "roster.csv"}],
              "collectors": {}}
    state: dict = {}
    aws_calls = AwsCalls()
    BUILTIN_HANDLERS.append(("before-parameter-build", aws_calls))
    with RecordingStack() as stack, AwsServer() as aws:
        state["aws"] = plant_demo(aws.url)
        config["collectors"]["aws"] = [{"name": "demo", "endpoint_url": aws.url,
                                        "regions": ["us-east-1"]}]
        for _, part in demo.PARTS[1:]:  # github, gitlab, kubernetes, okta+scim, iac
            part(stack, out, config, state)
        cfg_path = out / "residual.yaml"
        cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
        cfg = load_config(cfg_path)
        fakes = {name: _by_kind(stack.servers, cls) for name, cls in (
            ("github", "FakeGitHub"), ("gitlab", "FakeGitLab"), ("kubernetes", "FakeKubernetes"),
            ("okta", "FakeOkta"), ("scim", "FakeScim"))}
        for f in fakes.values():
            f.reset_counts()
        aws.clear()
        with Inventory(cfg.inventory) as inv:
            full = run_scan(cfg, inv, command="verify", verify={ALICE})
            full_counts = {n: list(f.requests) for n, f in fakes.items()}
            full_aws, aws_calls.calls = list(aws_calls.calls), []
            full_aws_requests = aws.count()
            for f in fakes.values():
                f.reset_counts()
            aws.clear()
            live = run_scan(cfg, inv, command="verify-live", verify={ALICE})
            live_counts = {n: list(f.requests) for n, f in fakes.items()}
            live_aws = list(aws_calls.calls)
            live_aws_requests = aws.count()
            writes = {n: list(f.writes) for n, f in fakes.items()}
            aws_writes = aws.writes()
            full_findings = inv.load(Finding, full.scan_id)
            live_findings = inv.load(Finding, live.scan_id)
            # a second targeted verify (as a watch does for the next event): the last scan
            # holds only alice's accounts, the scope still comes from the whole estate's
            fakes["okta"].reset_counts()
            erin = run_scan(cfg, inv, command="verify-live", verify={"erin@example.com"})
            erin_okta = [(r.path, r.arg("filter")) for r in fakes["okta"].requests]
            # carol left cleanly: a targeted verify must say clean too, not just cheaper
            carol = run_scan(cfg, inv, command="verify-live", verify={"carol@example.com"})
        cli = run_cli("verify", "-c", str(cfg_path), "--live", ALICE, "--format", "json",
                      env=FAKE_ENV)
        plan = run_cli("plan", "-c", str(cfg_path), ALICE, "--format", "json")
        # bob is active: a hygiene verdict, the same from the stored scan and from a live verify
        bob_stored = run_cli("verify", "-c", str(cfg_path), "--scan", "latest", "bob@example.com", ALICE,
                             "--format", "json", env=FAKE_ENV)
        bob_live = run_cli("verify", "-c", str(cfg_path), "--live", "bob@example.com", "--format", "json",
                           env=FAKE_ENV)
        yield {"bob_stored": bob_stored, "bob_live": bob_live, "cfg": cfg, "full": full, "live": live, "full_counts": full_counts,
               "live_counts": live_counts, "full_aws": full_aws, "live_aws": live_aws,
               "full_aws_requests": full_aws_requests, "live_aws_requests": live_aws_requests,
               "writes": writes, "aws_writes": aws_writes, "full_findings": full_findings,
               "live_findings": live_findings, "cli": cli, "plan": plan, "erin": erin,
               "erin_okta": erin_okta, "carol": carol}
    BUILTIN_HANDLERS.remove(("before-parameter-build", aws_calls))
    mp.undo()


def test_same_verdict_and_findings_as_a_full_scan(estate):
    full, live = estate["full"], estate["live"]
    assert overall(full.verdicts[ALICE]) == "residual"
    assert live.verdicts[ALICE] == full.verdicts[ALICE]
    key = lambda f: (f.rule, f.system, f.object_kind, f.object_id)  # noqa: E731
    mine_full = {key(f) for f in estate["full_findings"] if f.identity == ALICE}
    mine_live = {key(f) for f in estate["live_findings"] if f.identity == ALICE}
    assert mine_live == mine_full and len(mine_full) > 20
    cov = {(c.collector, c.target): c.status for c in live.coverage}
    assert "failed" not in cov.values(), cov
    # the verdict through the real CLI, exit 1: residual access
    assert estate["cli"].returncode == 1, estate["cli"].stderr[-2000:]
    doc = json.loads(estate["cli"].stdout)
    assert doc[ALICE]["verdict"] == "residual" and doc[ALICE]["layers"] == full.verdicts[ALICE]


def test_carol_left_cleanly_and_a_targeted_verify_says_so(estate):
    carol = "carol@example.com"
    assert estate["carol"].verdicts[carol] == estate["full"].verdicts[carol]
    assert overall(estate["carol"].verdicts[carol]) == "clean", estate["carol"].verdicts[carol]


def test_okta_and_scim_are_asked_only_about_her(estate):
    okta = [r.path + ("?" + "&".join(f"{k}={v[0]}" for k, v in sorted(r.query.items())) if r.query else "")
            for r in estate["live_counts"]["okta"]]
    assert f"/api/v1/users/{OKTA_ALICE}" in okta
    assert not any(p.startswith("/api/v1/users?") or p == "/api/v1/users" for p in okta), okta
    assert not any(re.match(r"/api/v1/users/(?!00ualice)", p) for p in okta), okta
    assert f'/api/v1/apps?filter=user.id eq "{OKTA_ALICE}"&limit=200' in okta
    assert not any(re.fullmatch(r"/api/v1/apps/[^/]+/users", p.split("?")[0]) for p in okta)
    assert len(okta) < len(estate["full_counts"]["okta"]) or len(okta) <= 8
    scim = [r.path for r in estate["live_counts"]["scim"]]
    assert scim == [f"/Users/{SCIM_ALICE}"], scim
    assert len(estate["full_counts"]["scim"]) >= 3


def test_aws_per_user_calls_only_for_her_and_her_nhi(estate):
    live_users = estate["live_aws"]
    asked = AwsCalls()
    asked.calls = live_users
    # svc-deploy is the NHI she owns: part of her scope (its keys are hers to answer for)
    assert asked.users_asked("ListAccessKeys") <= {"alice", "svc-deploy"}
    assert "alice" in asked.users_asked("ListAccessKeys")
    full = AwsCalls()
    full.calls = estate["full_aws"]
    assert full.users_asked("ListAccessKeys") > asked.users_asked("ListAccessKeys")
    assert estate["live_aws_requests"] < estate["full_aws_requests"]


def test_per_user_deep_calls_of_the_code_hosts_only_for_her(estate):
    gh = [r.path for r in estate["live_counts"]["github"]]
    user_keys = {p for p in gh if re.fullmatch(r"/users/[^/]+/keys", p)}
    # deploy-bot is the NHI she owns (roster owner): part of her scope, as svc-deploy on AWS
    assert user_keys <= {"/users/alice-gh/keys", "/users/deploy-bot/keys"}
    gl = [r.path for r in estate["live_counts"]["gitlab"]]
    per_user = {p.split("/")[4] for p in gl if re.fullmatch(r"/api/v4/users/\d+/(keys|impersonation_tokens)", p)}
    assert len(per_user) <= 1


def test_the_next_targeted_verify_still_knows_her_accounts(estate):
    assert ("/api/v1/users/00uerin0000000000e05", None) in estate["erin_okta"]
    assert not any(f for p, f in estate["erin_okta"] if p == "/api/v1/users")  # not by e-mail
    assert estate["erin"].verdicts["erin@example.com"] == estate["full"].verdicts["erin@example.com"]


def test_read_only(estate):
    assert all(w == [] for w in estate["writes"].values()), estate["writes"]
    assert estate["aws_writes"] == []


def test_plan_has_a_concrete_step_for_every_finding(estate):
    from scanner.plan import STEP_BUILDERS, load_objects, source_rule_steps, steps_for
    from rules.base import all_rules

    # every rule in the catalog has a builder (here, or in its source's remediation module)
    assert set(all_rules()) <= set(STEP_BUILDERS) | set(source_rule_steps())
    findings = estate["full_findings"]
    assert estate["plan"].returncode == 0, estate["plan"].stderr
    doc = json.loads(estate["plan"].stdout)
    steps = doc["steps"]
    cmds = "\n".join(s["command"] for s in steps)
    # the re-verify passes the config the plan was made with
    assert re.fullmatch(rf"residual verify -c \S+/residual\.yaml --live {re.escape(ALICE)}", steps[-1]["command"])
    assert [s["phase"] for s in steps] == sorted(s["phase"] for s in steps)
    for s in steps:
        assert "no exact step" not in s["note"] and "(not in this scan" not in s["command"], s
        assert not re.search(r"\b(USER_ID|APP_ID|PROJECT_ID|OWNER/REPO)\b", s["command"]), s
    for expected in (
        "aws iam delete-access-key --user-name alice --access-key-id AKIA",
        "aws iam delete-login-profile --user-name alice",
        "aws iam delete-ssh-public-key --user-name alice --ssh-public-key-id APKA",
        "aws iam update-assume-role-policy --role-name deploy-role",
        "gh api -X DELETE /orgs/acme/credential-authorizations/",
        "repos/acme/payments/keys",
        "/api/v4/users/2/impersonation_tokens/102",
        "/api/v4/groups/acme%2Fplatform/members/2",
        "/pipeline_schedules/1/take_ownership",
        "/api/v1/api-tokens/00Talice000000000t01",
        f"/api/v1/users/{OKTA_ALICE}/lifecycle/deactivate",
        f"/Users/{SCIM_ALICE}",
        "kubectl -n kube-system edit configmap aws-auth",
        "kubectl -n apps delete secret alice-debug-token",
        "client certificates",  # the honest answer
        "gh secret set PROD_DB_PASSWORD --repo acme/payments",
    ):
        assert expected in cmds, expected
    runnable = [ln for st in steps for ln in st["command"].splitlines() if ln and not ln.startswith("#")]
    assert len(runnable) == len(set(runnable))  # one object, one command, however many rules
    assert "create-access-key --user-name alice" not in cmds  # a leaver's key is revoked, not rotated
    # the Secret that holds her key gets a new credential before any key of hers is revoked
    edit = next(i for i, st in enumerate(steps) if "edit secret aws-creds" in st["command"])
    assert all(i > edit for i, st in enumerate(steps) if "delete-access-key" in st["command"])
    # shared secrets first, people's credentials next, accounts after grants
    phase = {s["rule"]: s["phase"] for s in steps}
    assert phase["codehost.ci_secret_not_rotated"] == 1
    assert phase["credential.used_after_termination"] == 2
    assert phase["grant.trust_names_leaver"] == 3 and phase["account.active_after_termination"] == 4
    # every finding of the full scan (every identity's) has a step
    with Inventory(estate["cfg"].inventory, read_only=True) as inv:
        objs = load_objects(inv, estate["full"].scan_id, findings)
    for f in findings:
        st = steps_for(f, objs)[0]
        assert st.command and "no exact step" not in st.note, (f.rule, f.object_id)


def test_an_active_identity_gets_its_hygiene_verdict_in_both_modes_and_does_not_abort_others(estate):
    stored, live = estate["bob_stored"], estate["bob_live"]
    assert stored.returncode in (0, 1, 3) and live.returncode in (0, 1, 3), stored.stderr + live.stderr
    s, l = json.loads(stored.stdout), json.loads(live.stdout)
    assert set(s) == {"bob@example.com", ALICE}  # bob, being active, did not abort alice's
    assert s[ALICE]["kind"] == "offboarding" and s[ALICE]["verdict"] == "residual"
    assert s["bob@example.com"]["kind"] == l["bob@example.com"]["kind"] == "hygiene"
    assert s["bob@example.com"]["status"] == "active"
    for r in (stored, live):
        assert "bob@example.com is active in the roster, not a leaver: its verdict is a hygiene verdict" in r.stderr
    assert "the stored scan did not check it in depth" in stored.stderr
    # a stored scan asked about leavers in depth only: no layer of bob's is clean from it;
    # where it found something, the live verify finds it too
    bob_s, bob_l = s["bob@example.com"]["layers"], l["bob@example.com"]["layers"]
    assert "clean" not in bob_s.values() and "clean" in bob_l.values()
    assert {k for k, v in bob_s.items() if v == "residual"} <= {k for k, v in bob_l.items() if v == "residual"}


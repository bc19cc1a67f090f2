"""The reports as their real consumers take them: SARIF through Microsoft's Multitool and
GitHub code scanning's upload constraints, OCSF through py-ocsf-models, BloodHound through
BloodHound CE's ingest schemas (tests/consumers.py). Driven through the real CLI, on a git
checkout with an IaC subfolder and on the bundled demo estate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reports import ReportInput
from reports.sarif import build_sarif
from scanner.config import load_config as load
from scanner.core.store import Inventory
from tests.conftest import run_cli, write_config
from tests.consumers import bloodhound_problems, github_upload_problems, multitool_errors, ocsf_problems
from tests.test_iac_e2e import ROSTER, git


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A git checkout (a remote with a token in its URL) whose infra/ subfolder is the
    configured IaC tree: a leaver named in users.tf, a secret only in history."""
    tmp = tmp_path_factory.mktemp("checkout")
    repo = tmp / "repo"
    infra = repo / "infra"
    infra.mkdir(parents=True)
    (infra / "users.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n')
    (infra / "CODEOWNERS").write_text("/infra/ @alice-gh\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "https://x-token:ghp_NOTREAL123@github.example/acme/infra.git")
    (infra / ".env").write_text("DB_PASSWORD=Zq8vN3xT7pL2wK9m\n")  # fake
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    (infra / ".env").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    cfg = write_config(tmp, {"collectors": {"iac": [{"path": str(infra), "history": True}]}}, ROSTER)
    scan = run_cli("scan", "-c", str(cfg))
    assert scan.returncode == 1, scan.stderr
    return tmp, repo, cfg, head


def _sarif(cfg: Path, out: Path, *extra: str) -> dict:
    r = run_cli("report", "-c", str(cfg), "--format", "sarif", "-o", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def test_github_profile_uploads_from_the_repository_root(checkout, tmp_path):
    tmp, repo, cfg, head = checkout
    doc = _sarif(cfg, tmp_path / "github.sarif")
    run = doc["runs"][0]
    assert github_upload_problems(doc, repo) == []
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"infra/users.tf", "infra/CODEOWNERS"}  # repo-relative, not scan-relative
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    vcp = run["versionControlProvenance"][0]
    assert vcp["revisionId"] == head and vcp["repositoryUri"] == "https://github.example/acme/infra.git"
    assert all(r["partialFingerprints"]["primaryLocationLineHash"] for r in run["results"])
    assert {r["baselineState"] for r in run["results"]} == {"new"}  # a first scan
    # the history-only secret is a finding, not a result, and the notification says so
    report = json.loads(run_cli("report", "-c", str(cfg), "--format", "json").stdout)
    left = len(report["findings"]) - len(run["results"])
    assert left >= 1
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any(n.startswith(f"{left} of {len(report['findings'])} findings are not about a file")
               and "--format json" in n for n in notes)
    assert multitool_errors(tmp_path / "github.sarif", tmp_path) == []


def test_generic_profile_keeps_every_finding_and_the_upload_check_bites(checkout, tmp_path):
    tmp, repo, cfg, _ = checkout
    doc = _sarif(cfg, tmp_path / "generic.json", "--sarif-profile", "generic")
    report = json.loads(run_cli("report", "-c", str(cfg), "--format", "json").stdout)
    assert len(doc["runs"][0]["results"]) == len(report["findings"])
    assert github_upload_problems(doc, repo)  # scan-relative paths, a history-only file
    assert multitool_errors(tmp_path / "generic.json", tmp_path) == []
    r = run_cli("report", "-c", str(cfg), "--format", "json", "--sarif-profile", "generic")
    assert r.returncode == 2 and "--sarif-profile" in r.stderr


def test_results_over_the_limit_are_left_out_and_counted(checkout):
    tmp, repo, cfg, _ = checkout
    config = load(str(cfg))
    with Inventory(config.inventory, read_only=True) as inv:
        full = build_sarif(inv, inv.latest_scan_id(), ReportInput.from_config(config))["runs"][0]
        capped = build_sarif(inv, inv.latest_scan_id(), ReportInput.from_config(config), max_results=1)["runs"][0]
    assert len(full["results"]) == 2 and len(capped["results"]) == 1
    assert capped["results"][0] == full["results"][0]  # the most severe stays
    notes = [n["message"]["text"] for n in capped["invocations"][0]["toolExecutionNotifications"]]
    assert any(n.startswith("1 results over GitHub's limits (1 per run") for n in notes)
    assert not any("over GitHub's limits" in n["message"]["text"]
                   for n in full["invocations"][0]["toolExecutionNotifications"])


def test_rule_descriptions_are_dedented(checkout, tmp_path):
    _, _, cfg, _ = checkout
    rules = _sarif(cfg, tmp_path / "r.sarif")["runs"][0]["tool"]["driver"]["rules"]
    assert not [r["id"] for r in rules if "\n    " in r["fullDescription"]["text"]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    r = run_cli("demo", "--out", str(out), "-q")
    assert r.returncode in (0, 1), r.stderr
    return out


def test_demo_reports_pass_their_consumers(demo, tmp_path):
    cfg = demo / "residual.yaml"
    doc = _sarif(cfg, tmp_path / "demo.sarif")
    assert doc["runs"][0]["results"] and github_upload_problems(doc, demo / "infra") == []
    assert multitool_errors(tmp_path / "demo.sarif", tmp_path) == []
    generic = _sarif(cfg, tmp_path / "demo-generic.json", "--sarif-profile", "generic")
    assert len(generic["runs"][0]["results"]) > len(doc["runs"][0]["results"])
    assert multitool_errors(tmp_path / "demo-generic.json", tmp_path) == []
    bh = json.loads(run_cli("report", "-c", str(cfg), "--format", "bloodhound").stdout)
    assert bh["graph"]["nodes"] and bloodhound_problems(bh) == []
    ocsf = json.loads(run_cli("report", "-c", str(cfg), "--format", "ocsf").stdout)
    assert ocsf and ocsf_problems(ocsf) == []


def test_the_consumer_checks_bite():
    assert bloodhound_problems({"metadata": {"source_kind": "Residual"}, "graph": {
        "nodes": [{"id": "a", "kinds": ["A", "B", "C", "D"], "properties": {"x": {"nested": 1}}}],
        "edges": [{"kind": "E", "start": {"value": "a"}, "end": {"value": "missing"}}]}})
    assert ocsf_problems([{"class_uid": 2004, "severity_id": 99}])


def test_bloodhound_reaches_reference_findings_and_owner_tags(demo):
    """The documented Cypher (identity -[*]-> node with findings) reaches every IaC
    reference finding through a ResidualNamedBy edge; an owner tag is a ResidualOwns edge
    even where the account is linked otherwise. The near miss: no NamedBy edge from an
    identity that no reference finding is about."""
    cfg = demo / "residual.yaml"
    bh = json.loads(run_cli("report", "-c", str(cfg), "--format", "bloodhound").stdout)
    report = json.loads(run_cli("report", "-c", str(cfg), "--format", "json").stdout)
    named = {(e["start"]["value"], e["end"]["value"]) for e in bh["graph"]["edges"]
             if e["kind"] == "ResidualNamedBy"}
    refs = [f for f in report["findings"] if f["rule"].startswith("reference.") and f["identity"]]
    assert refs and len(named) >= len({(f["identity"], f["location"]["path"], f["location"]["line"])
                                       for f in refs})
    assert {s for s, _ in named} == {f"identity:{f['identity']}" for f in refs}
    assert "identity:carol@example.com" not in {s for s, _ in named}
    owned = {(e["start"]["value"], e["end"]["value"]) for e in bh["graph"]["edges"]
             if e["kind"] == "ResidualOwns" and e["properties"].get("via") == "tag:owner"}
    assert ("identity:bob@example.com",
            "resource:aws:123456789012|arn:aws:iam::123456789012:role/deploy-role") in owned

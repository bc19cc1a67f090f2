"""Finding fingerprints depend on what was found, not on where the scan ran: the same IaC
tree scanned from another folder (a copy of the checkout, a relative path) gives the same
fingerprints, so waivers and diffs made on one still match the other. Real CLI, real git."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.conftest import run_cli, write_config
from tests.test_iac_e2e import ROSTER, git


def _tree(root: Path, remote: str | None) -> Path:
    root.mkdir(parents=True)
    (root / "users.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n')
    (root / ".env").write_text("DB_PASSWORD=Zq8vN3xT7pL2wK9m\n")  # fake
    git(root, "init", "-q", "-b", "main")
    if remote:
        git(root, "remote", "add", "origin", remote)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def _findings(tmp: Path, collectors: dict, waivers: list | None = None) -> dict[str, dict]:
    body = {"collectors": collectors}
    if waivers is not None:
        (tmp / "waivers.yaml").write_text(yaml.safe_dump({"waivers": waivers}))
        body["waivers"] = "waivers.yaml"
    cfg = write_config(tmp, body, ROSTER)
    assert run_cli("scan", "-c", str(cfg)).returncode == 1
    r = run_cli("report", "-c", str(cfg), "--format", "json")
    return {f["fingerprint"]: f for f in json.loads(r.stdout)["findings"]}


def test_the_same_checkout_scanned_from_another_folder_keeps_its_fingerprints(tmp_path):
    a = _tree(tmp_path / "a" / "src" / "infra", "https://u:tok@git.example/acme/infra.git")
    b = tmp_path / "b" / "elsewhere" / "infra"
    shutil.copytree(a, b)
    first = _findings(tmp_path / "a", {"iac": [{"path": str(a)}]})
    assert {f["rule"] for f in first.values()} >= {"reference.recreates_leaver", "exposure.secret"}
    ref = next(fp for fp, f in first.items() if f["rule"] == "reference.recreates_leaver")
    waiver = {"fingerprint": ref, "reason": "moving", "approver": "ciso@example.com",
              "expires": "2099-01-01"}
    # another folder, another inventory, the path given relative to the config
    second = _findings(tmp_path / "b", {"iac": [{"path": "elsewhere/infra"}]}, [waiver])
    assert set(second) == set(first)
    assert second[ref]["status"] == "waived"  # the waiver written against the first still applies


def test_two_trees_with_the_same_files_stay_two_sets_of_findings(tmp_path):
    """The near miss: two different trees (other folder names, no remote) holding the same
    file are two places, not one."""
    one = _tree(tmp_path / "svc-one", None)
    two = tmp_path / "svc-two"
    shutil.copytree(one, two)
    both = _findings(tmp_path, {"iac": [{"path": str(one)}, {"path": str(two)}]})
    sources = {f["evidence"]["source"] for f in both.values() if f["rule"] == "reference.recreates_leaver"}
    assert len(sources) == 2

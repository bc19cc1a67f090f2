"""End to end: the real CLI scans the demo cluster (fake API server) with a
kubernetes-only config; alice's residue is found, carol is clean, a forbidden resource
type makes the verdict incomplete, never clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import fake_kubernetes as fk
from tests.conftest import run_cli, write_config

ROOT = Path(__file__).resolve().parents[1]


def roster_rows() -> list[str]:
    return (ROOT / "fixtures/demo/roster.csv").read_text().strip().splitlines()[1:]


@pytest.fixture
def demo():
    server = fk.start_demo()
    yield server
    server.stop()


def configure(tmp_path: Path, server: fk.FakeKubernetes) -> Path:
    kubeconfig = fk.write_kubeconfig(tmp_path / "kubeconfig", server, context="prod")
    return write_config(tmp_path, {"collectors": {"kubernetes": [
        {"kubeconfig": str(kubeconfig), "context": "prod"}]}}, roster_rows())


def verify(cfg: Path, *who: str):
    """``residual verify`` scans now and gives the named identities' verdicts."""
    r = run_cli("verify", "-c", str(cfg), "-q", "--format", "json", *who)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_alice_residual_and_carol_clean(tmp_path, demo):
    cfg = configure(tmp_path, demo)
    code, v = verify(cfg, "alice@example.com", "carol@example.com")
    assert code == 1
    assert v["alice@example.com"]["layers"]["kubernetes"] == "residual"
    assert v["carol@example.com"]["layers"]["kubernetes"] == "clean"
    assert v["carol@example.com"]["verdict"] == "clean"
    assert demo.writes == []

    rep = run_cli("report", "-c", str(cfg), "--format", "json")
    assert rep.returncode == 0, rep.stderr
    report = json.loads(rep.stdout)
    alice = {f["rule"] for f in report["findings"] if f["identity"] == "alice@example.com"}
    assert {"kubernetes.binding_names_leaver", "kubernetes.client_cert_of_leaver",
            "kubernetes.mapping_names_leaver", "kubernetes.sa_token_owner_left"} <= alice
    bindings = [f for f in report["findings"] if f["rule"] == "kubernetes.binding_names_leaver"]
    assert {f["evidence"].get("binding") for f in bindings} == {
        "RoleBinding apps/alice-edit", "ClusterRoleBinding contractors-view"}
    assert not [f for f in report["findings"] if f["identity"] in ("carol@example.com", "bob@example.com")
                and f["severity"] in ("high", "critical")]
    cov = [c for c in report["coverage"] if c["layer"] == "kubernetes"]
    assert cov and all(c["status"] == "ok" for c in cov) and cov[0]["api_calls"] == 7
    text = rep.stdout
    for raw in ("FAKE.JWT-ALICE-DEBUG-TOKEN", fk.DEMO_SECRET_ACCESS_KEY, fk.DEFAULT_TOKEN,
                "fake-registry-password-FOR-TESTS"):
        assert raw not in text


def test_forbidden_secrets_make_the_kubernetes_verdict_incomplete(tmp_path, demo):
    demo.forbid("secrets")
    cfg = configure(tmp_path, demo)
    code, v = verify(cfg, "carol@example.com")
    assert code == 3 and v["carol@example.com"]["layers"]["kubernetes"] == "incomplete"
    assert v["carol@example.com"]["verdict"] == "incomplete"

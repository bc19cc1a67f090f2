"""rules/references.py and rules/exposures.py: each rule's planted residue and near miss."""

from __future__ import annotations

from datetime import UTC, datetime

from rules.base import all_rules
from scanner.core.model import Account, Credential, Exposure, Identity, Reference
from scanner.core.options import Policy
from scanner.core.store import Inventory
from scanner.correlate import correlate
from scanner.engine import load_context, run_rules
from scanner.resolve import resolve

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
KEY_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake
ALICE = Identity("alice@example.com", status="terminated", terminated_at=datetime(2026, 11, 1, tzinfo=UTC),
                 emails=["alice@example.com"], aliases=["aws:alice", "github:alice-gh"])
BOB = Identity("bob@example.com", emails=["bob@example.com"], aliases=["aws:bob", "github:bob-gh"])
ALICE_ARN = "arn:aws:iam::123456789012:user/alice"
ALICE_ACC = Account("aws", "aws:123456789012", ALICE_ARN, login="alice")


def findings(records):
    inv = Inventory(":memory:")
    scan = inv.begin_scan("t")
    idents = [ALICE, BOB]
    inv.insert(scan, idents + list(records))
    inv.insert(scan, resolve(idents, inv.iter(Account, scan)))
    correlate(inv, scan)
    ctx = load_context(inv, scan, Policy(), NOW)
    rules = {k: v for k, v in all_rules().items() if k.split(".")[0] in ("reference", "exposure")}
    out, errors = run_rules(ctx, rules)
    assert not errors
    return {(f.rule, f.severity, f.identity, f.location_path, f.location_line) for f in out}


def ref(matched, kind, system=None, recreates=False, line=1, location="main.tf", in_head=True):
    return Reference("iac", "iac:infra", location, matched, "unknown", "", line=line, in_head=in_head,
                     attributes={"kind": kind, "system": system, "recreates": recreates})


def test_iac_recreating_a_leaver():
    got = findings([ref("alice", "handle", "aws", True, 7), ref("bob", "handle", "aws", True, 9)])
    assert got == {("reference.recreates_leaver", "high", "alice@example.com", "main.tf", 7)}


def test_leftover_reference_to_a_leaver():
    got = findings([ref("alice-gh", "handle", "github", False, 1, ".github/CODEOWNERS"),
                    ref("ALICE@example.com", "email", None, False, 3, "wf.yml"),
                    ref(ALICE_ARN, "arn", "aws", False, 4, "policy.json"),
                    ref("bob-gh", "handle", "github", False, 2, ".github/CODEOWNERS"),
                    ref("alice-gh", "handle", "github", False, 5, "gone.tf", in_head=False),
                    ref("alice", "handle", "github", False, 6, "x.tf")])  # alice is aws's login, not github's
    assert got == {("reference.leaver", "medium", "alice@example.com", ".github/CODEOWNERS", 1),
                   ("reference.leaver", "medium", "alice@example.com", "wf.yml", 3),
                   ("reference.leaver", "medium", "alice@example.com", "policy.json", 4)}


def exposure(identifier=None, location="provider.tf", line=2, in_head=True, **attrs):
    return Exposure("iac", "iac:infra", "AWS Access Key", "fp-" + location, "AKIA…ZAM2", location,
                    line=line, in_head=in_head, identifier=identifier, attributes=attrs)


def key(status="active"):
    return Credential("aws", "aws:123456789012", KEY_ID, "access_key", holder=ALICE_ACC.uid,
                      status=status, attributes={"access_key_id": KEY_ID})


def test_exposed_secret_matching_a_live_credential_is_critical_for_its_holder():
    got = findings([ALICE_ACC, key("active"), exposure(KEY_ID)])
    assert ("exposure.live_credential", "critical", "alice@example.com", "provider.tf", 2) in got
    assert not any(r == "exposure.secret" for r, *_ in got)
    # near miss: the key was deactivated: an exposed secret, not a live credential
    got = findings([ALICE_ACC, key("inactive"), exposure(KEY_ID)])
    assert not any(r == "exposure.live_credential" for r, *_ in got)
    assert ("exposure.secret", "high", "alice@example.com", "provider.tf", 2) in got


def test_exposed_secret_without_match():
    got = findings([exposure(None)])
    assert got == {("exposure.secret", "high", None, "provider.tf", 2)}


def test_history_only_secret_still_valid():
    got = findings([ALICE_ACC, key("active"), exposure(KEY_ID, ".env", 2, in_head=False)])
    assert got == {("exposure.history_live", "high", "alice@example.com", ".env", 2)}
    # near miss: rotated since (inactive): only the low "validity unknown" reminder
    got = findings([ALICE_ACC, key("inactive"), exposure(KEY_ID, ".env", 2, in_head=False)])
    assert got == {("exposure.history_unverified", "low", "alice@example.com", ".env", 2)}


def test_secrets_in_tfstate():
    got = findings([exposure(None, "prod.tfstate", 12, tfstate=True), exposure(None, "prod.tf", 3)])
    assert ("exposure.tfstate", "high", None, "prod.tfstate", 12) in got
    assert ("exposure.secret", "high", None, "prod.tf", 3) in got
    assert not any(r == "exposure.tfstate" and p == "prod.tf" for r, _s, _i, p, _l in got)


def test_history_only_secret_verified_valid_by_live_check():
    e = exposure(None, "old.env", 1, in_head=False)
    e.verified = "valid"
    assert findings([e]) == {("exposure.history_live", "high", None, "old.env", 1)}


def test_key_id_of_an_exposed_secret_is_reported_once_as_the_exposure():
    same = Reference("iac", "iac:infra", "provider.tf", KEY_ID, "unknown", "", line=2, in_head=True,
                     attributes={"kind": "aws_key_id", "system": "aws", "recreates": False})
    elsewhere = Reference("iac", "iac:infra", "notes.md", KEY_ID, "unknown", "", line=9, in_head=True,
                          attributes={"kind": "aws_key_id", "system": "aws", "recreates": False})
    got = findings([ALICE_ACC, key("active"), exposure(KEY_ID), same, elsewhere])
    assert {(r, p) for r, _s, _i, p, _l in got} == {("exposure.live_credential", "provider.tf"),
                                                    ("reference.leaver", "notes.md")}

"""AWS-specific rules: each residual planted and asserted, each near miss asserted absent."""

from __future__ import annotations

from datetime import UTC, datetime

from scanner.core.model import Account, Grant, Identity, Resource
from scanner.engine import context_from_records, run_rules

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
LEFT = datetime(2026, 11, 1, tzinfo=UTC)
SRC = "aws:123456789012"
ALICE_ARN = "arn:aws:iam::123456789012:user/alice"


def people():
    return [Identity("alice@example.com", "Alice", status="terminated", terminated_at=LEFT,
                     emails=["alice@example.com"], aliases=["aws:alice"]),
            Identity("bob@example.com", "Bob", emails=["bob@example.com"], aliases=["aws:bob"])]


def hits(records, rule_id):
    ctx = context_from_records(people() + records, NOW)
    found, errors = run_rules(ctx)
    assert errors == []
    return [f for f in found if f.rule == rule_id]


def secret(name, owner, changed):
    return Resource("aws", SRC, f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}",
                    "secret_store", name, updated_at=changed,
                    attributes={"tags": {"owner": owner}, "last_changed_at": changed.isoformat(),
                                "last_rotated_at": None})


def test_secret_owned_by_leaver_unchanged_since_termination():
    found = hits([secret("prod/db", "alice@example.com", datetime(2026, 6, 1, tzinfo=UTC))],
                 "aws.secret_owner_left")
    assert [(f.identity, f.object_name, f.severity) for f in found] == \
        [("alice@example.com", "prod/db", "medium")]


def test_secret_rotated_after_termination_or_owned_by_active_person_is_not_flagged():
    assert hits([secret("prod/db", "alice@example.com", datetime(2026, 11, 5, tzinfo=UTC)),
                 secret("reports", "bob@example.com", datetime(2026, 1, 1, tzinfo=UTC))],
                "aws.secret_owner_left") == []


def cluster_and_entry(principal):
    cluster = Resource("aws", SRC, "arn:aws:eks:us-east-1:123456789012:cluster/prod", "cluster", "prod")
    grant = Grant("aws", SRC, principal, cluster.uid, "user:alice groups:system:masters", "mapping",
                  attributes={"mapping": "eks_access_entry"})
    return [cluster, grant]


def test_eks_access_entry_of_leaver_even_after_user_deletion():
    # no IAM user record at all: the entry still names alice's ARN (alias aws:alice)
    found = hits(cluster_and_entry(ALICE_ARN), "aws.eks_access_entry_leaver")
    assert [(f.identity, f.severity, f.evidence["principal_exists"]) for f in found] == \
        [("alice@example.com", "high", False)]


def test_eks_access_entry_of_active_person_is_not_flagged():
    assert hits(cluster_and_entry("arn:aws:iam::123456789012:user/bob"),
                "aws.eks_access_entry_leaver") == []


def sso(login, email):
    acc = Account("aws", SRC, f"identitystore:d-1:user/{login}", login, email, "user", "active",
                  attributes={"identity_center": True})
    ps = Resource("aws", SRC, "arn:aws:sso:::permissionSet/ssoins-1/ps-1", "role", "ps-1")
    return [acc, ps, Grant("aws", SRC, acc.uid, ps.uid, "account:123456789012", "assignment")]


def test_identity_center_assignment_of_leaver():
    found = hits(sso("alice", "alice@example.com"), "aws.identity_center_assignment_leaver")
    assert [(f.identity, f.severity) for f in found] == [("alice@example.com", "high")]


def test_identity_center_assignment_of_active_person_is_not_flagged():
    assert hits(sso("bob", "bob@example.com"), "aws.identity_center_assignment_leaver") == []

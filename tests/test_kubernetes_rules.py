"""Kubernetes rules: each planted residue is found, each near-miss is not.

Records come from the collector's own transform functions (payload -> records), links
from the real resolver, so the rules see exactly what a scan would give them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


from collectors.csv_roster.roster import identities_from_csv
from collectors.kubernetes.collector import (
    aws_auth_grants, binding_records, csr_records, service_account_record, sa_token_credential,
    cluster_resource,
)
from fixtures import fake_kubernetes as fk
from rules.base import all_rules
from rules.context import RuleContext
from scanner.core.model import Account, Credential, Exposure, Grant, Resource
from scanner.core.options import Policy
from scanner.core.secrets import Fingerprinter, SecretScanner
from scanner.engine import run_rules
from scanner.resolve import resolve
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[1]
SRC = "kubernetes:prod"
SCANNER = SecretScanner(Fingerprinter(b"k" * 32))
K = fk.FakeKubernetes()  # used only as a payload builder (never started)


def roster():
    return identities_from_csv((ROOT / "fixtures/demo/roster.csv").read_text(), "roster.csv")


def context(records, policy: Policy | None = None) -> RuleContext:
    idents = roster()
    accounts = {r.uid: r for r in records if isinstance(r, Account)}
    creds = [r for r in records if isinstance(r, Credential)]
    links = resolve(idents, accounts.values(), creds)
    resources = {r.uid: r for r in records if isinstance(r, Resource)}
    resources.setdefault(f"{SRC}|cluster", cluster_resource(SRC, "prod"))
    return RuleContext(scan_id="t", now=NOW, policy=policy or Policy(),
                       identities={i.id: i for i in idents}, accounts=accounts,
                       credentials=creds, grants=[r for r in records if isinstance(r, Grant)],
                       resources=resources, links={l.account: l for l in links},
                       exposures=[r for r in records if isinstance(r, Exposure)],
                       references=[], coverage=[])


def hits(rule_id: str, records, **kw):
    ctx = context(records, **kw)
    return list(all_rules()[rule_id].fn(ctx))


def dedup(records):
    out, seen = [], set()
    for r in records:
        key = getattr(r, "uid", None) if isinstance(r, Account) else id(r)
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out


# --- bindings ---------------------------------------------------------------------------------

def test_binding_naming_leaver_user_by_email_and_not_active_user():
    recs = binding_records(K.role_binding("apps", "alice-edit", "edit", [fk.user("alice@example.com")]), SRC)
    recs += binding_records(K.role_binding("apps", "bob-view", "view", [fk.user("bob@example.com")]), SRC)
    found = hits("kubernetes.binding_names_leaver", dedup(recs))
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["binding"] == "RoleBinding apps/alice-edit"
    assert found[0].evidence["role"] == "edit" and found[0].evidence["link"] in ("alias", "email")


def test_binding_naming_leaver_by_alias():
    recs = binding_records(K.cluster_role_binding("x", "admin", [fk.user("ddiaz")]), SRC)
    # dave has no kubernetes alias; a roster alias of another system does not apply
    assert hits("kubernetes.binding_names_leaver", recs) == []
    recs = binding_records(K.cluster_role_binding("y", "admin", [fk.user("alice@example.com")]), SRC)
    found = hits("kubernetes.binding_names_leaver", recs)
    assert found and found[0].evidence["link"] == "alias"  # kubernetes:alice@example.com


def _cert(cn, groups, not_after=datetime(2027, 6, 1, tzinfo=UTC), name=None):
    pem = fk.client_certificate(cn, groups, datetime(2026, 1, 1, tzinfo=UTC), not_after)
    return csr_records(K.csr(name or f"csr-{cn}", "kubernetes-admin", pem), SRC, NOW)


def test_group_binding_whose_only_known_members_left():
    crb = binding_records(K.cluster_role_binding("contractors-view", "view", [fk.group("contractors")]), SRC)
    mapping, _ = aws_auth_grants({"mapUsers": "- userarn: arn:aws:iam::123456789012:user/alice\n"
                                              "  username: alice\n  groups: [contractors]\n"}, SRC)
    found = hits("kubernetes.binding_names_leaver", crb + mapping)
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["group"] == "contractors"
    assert "only known members" in found[0].title


def test_group_binding_with_an_active_member_is_not_flagged():
    crb = binding_records(K.cluster_role_binding("devs-edit", "edit", [fk.group("devs")]), SRC)
    members = _cert("alice@example.com", ["devs"]) + _cert("bob@example.com", ["devs"])
    assert hits("kubernetes.binding_names_leaver", dedup(crb + members)) == []
    # the same group with only alice's certificate is flagged
    assert [h.identity for h in hits("kubernetes.binding_names_leaver",
                                     dedup(crb + _cert("alice@example.com", ["devs"])))] == ["alice@example.com"]


def test_group_without_known_members_is_not_flagged():
    crb = binding_records(K.cluster_role_binding("c", "cluster-admin", [fk.group("oidc:admins")]), SRC)
    assert hits("kubernetes.binding_names_leaver", crb) == []


# --- client certificates ------------------------------------------------------------------------

def test_leaver_client_cert_not_expired():
    found = hits("kubernetes.client_cert_of_leaver", _cert("alice@example.com", ["devs"]))
    assert len(found) == 1 and found[0].identity == "alice@example.com"
    assert "2027-06-01" in found[0].title
    assert found[0].evidence["revocable"] is False and found[0].evidence["days_left"] == 192


def test_expired_or_active_users_cert_is_not_flagged():
    expired = _cert("alice@example.com", ["devs"], not_after=datetime(2026, 11, 20, tzinfo=UTC))
    assert hits("kubernetes.client_cert_of_leaver", expired) == []
    assert hits("kubernetes.client_cert_of_leaver", _cert("bob@example.com", ["devs"])) == []


# --- service-account tokens ------------------------------------------------------------------------

def _sa(name, owner=None, ns="apps"):
    return service_account_record(K.service_account(ns, name, annotations={"owner": owner} if owner else None), SRC)


def _token(sa, last_used=None, invalid_since=None, created="2024-09-02T16:44:20Z", ns="apps"):
    return sa_token_credential(K.sa_token_secret(ns, f"{sa}-token", sa, f"FAKE.JWT-{sa}.FOR-TESTS",
                                                 last_used=last_used, invalid_since=invalid_since,
                                                 created=created), SRC, SCANNER)


def test_legacy_token_never_used_or_idle():
    recs = [_sa("builder"), _token("builder")]
    found = hits("kubernetes.legacy_token_unused", recs)
    assert len(found) == 1 and found[0].evidence["never_used"] is True
    idle = [_sa("builder"), _token("builder", last_used="2026-09-01")]
    found = hits("kubernetes.legacy_token_unused", idle)
    assert found and found[0].evidence["unused_days"] == 81


def test_legacy_token_recently_used_or_invalidated_is_not_flagged():
    assert hits("kubernetes.legacy_token_unused", [_sa("b"), _token("b", last_used="2026-11-20")]) == []
    assert hits("kubernetes.legacy_token_unused",
                [_sa("b"), _token("b", invalid_since="2026-10-01")]) == []
    # the policy decides what "recently" is
    assert hits("kubernetes.legacy_token_unused", [_sa("b"), _token("b", last_used="2026-11-01")],
                policy=Policy(unused_after_days=10))


def test_sa_token_whose_owner_left():
    recs = [_sa("alice-debug", owner="alice@example.com"), _token("alice-debug", last_used="2026-11-10")]
    found = hits("kubernetes.sa_token_owner_left", recs)
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["used_after_owner_left"] is True


def test_sa_token_whose_owner_is_active_is_not_flagged():
    recs = [_sa("ci", owner="bob@example.com"), _token("ci", last_used="2026-11-20")]
    assert hits("kubernetes.sa_token_owner_left", recs) == []
    recs = [_sa("alice-debug", owner="alice@example.com"),
            _token("alice-debug", invalid_since="2026-11-02")]
    assert hits("kubernetes.sa_token_owner_left", recs) == []  # already invalidated


# --- IAM mappings -------------------------------------------------------------------------------

def test_aws_auth_mapping_of_leaver_by_alias_and_not_of_active_user():
    grants, _ = aws_auth_grants({"mapUsers": (
        "- userarn: arn:aws:iam::123456789012:user/alice\n  username: alice\n  groups: [x]\n"
        "- userarn: arn:aws:iam::123456789012:user/bob\n  username: bob\n  groups: [x]\n")}, SRC)
    found = hits("kubernetes.mapping_names_leaver", grants)
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["where"] == "kube-system/aws-auth"
    assert found[0].evidence["principal_exists"] is False


def test_eks_access_entry_of_leaver_matched_through_iam_account():
    """The AWS collector's access entries: principal = the IAM ARN, matched to the IAM
    user linked to a leaver (here by an e-mail tag, whatever its name)."""
    arn = "arn:aws:iam::123456789012:user/a.archer"
    iam = Account(system="aws", source="aws:123456789012", native_id=arn, login="a.archer",
                  attributes={"tags": {"email": "alice@example.com"}})
    cluster = Resource(system="aws", source="aws:123456789012",
                       native_id="arn:aws:eks:us-east-1:123456789012:cluster/prod", kind="cluster", name="prod")
    entry = Grant(system="aws", source="aws:123456789012", principal=arn, resource=cluster.uid,
                  permission="user:alice groups:contractors", via="mapping")
    other = Grant(system="aws", source="aws:123456789012", principal="arn:aws:iam::123456789012:user/bob",
                  resource=cluster.uid, permission="user:bob groups:devs", via="mapping")
    found = hits("kubernetes.mapping_names_leaver", [iam, cluster, entry, other])
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["where"] == "EKS access entry" and found[0].evidence["principal_exists"]
    assert found[0].layer == "kubernetes"


# --- credentials in Secrets / ConfigMaps ---------------------------------------------------------

def _aws_key(holder_login, status="active", key="AKIAFAKEALICEKEY2345", tags=None):
    acc = Account(system="aws", source="aws:123456789012",
                  native_id=f"arn:aws:iam::123456789012:user/{holder_login}", login=holder_login,
                  attributes={"tags": tags or {}})
    cred = Credential(system="aws", source="aws:123456789012", native_id=key, kind="access_key",
                      holder=acc.uid, status=status)
    return acc, cred


def _exposure(cred, kind="Secret"):
    loc = "secrets/apps/aws-creds#AWS_ACCESS_KEY_ID" if kind == "Secret" else "configmaps/apps/cfg#KEY"
    return Exposure(system="kubernetes", source=SRC, detector="AWS Access Key", fingerprint="f" * 40,
                    hint="AKIA…2345", location=loc, identifier=cred.native_id,
                    matched_credential=cred.uid, attributes={"kind": kind})


def test_live_credential_in_secret_is_critical():
    acc, cred = _aws_key("alice")
    found = hits("kubernetes.secret_holds_live_credential", [acc, cred, _exposure(cred)])
    assert len(found) == 1 and found[0].identity == "alice@example.com"
    assert found[0].severity is None  # the rule's own: critical
    assert all_rules()["kubernetes.secret_holds_live_credential"].meta.severity == "critical"


def test_inactive_or_unmatched_credential_is_not_flagged():
    acc, cred = _aws_key("alice", status="inactive")
    assert hits("kubernetes.secret_holds_live_credential", [acc, cred, _exposure(cred)]) == []
    acc, cred = _aws_key("alice")
    unmatched = _exposure(cred)
    unmatched.matched_credential = None
    assert hits("kubernetes.secret_holds_live_credential", [acc, cred, unmatched]) == []


def test_nhi_key_in_a_secret_is_medium_but_in_a_configmap_critical():
    acc, cred = _aws_key("svc-reports")
    found = hits("kubernetes.secret_holds_live_credential", [acc, cred, _exposure(cred)])
    assert found and found[0].severity == "medium"
    found = hits("kubernetes.secret_holds_live_credential", [acc, cred, _exposure(cred, "ConfigMap")])
    assert found and found[0].severity is None


def test_rules_run_through_the_engine():
    recs = dedup(binding_records(K.role_binding("apps", "alice-edit", "edit", [fk.user("alice@example.com")]), SRC)
                 + _cert("alice@example.com", ["devs"]))
    findings, errors = run_rules(context(recs))
    assert not errors
    mine = {f.rule for f in findings if f.rule.startswith("kubernetes.")}
    assert mine == {"kubernetes.binding_names_leaver", "kubernetes.client_cert_of_leaver"}
    assert all(f.layer == "kubernetes" for f in findings if f.rule.startswith("kubernetes."))
    binding = next(f for f in findings if f.rule == "kubernetes.binding_names_leaver")
    assert binding.path[0] == "identity:alice@example.com" and binding.path[-1] == f"resource:{SRC}|Namespace:apps"


def test_weak_login_match_lowers_the_severity():
    recs = binding_records(K.role_binding("apps", "old", "edit", [fk.user("alice")]), SRC)
    found = hits("kubernetes.binding_names_leaver", recs)
    assert [h.identity for h in found] == ["alice@example.com"]
    assert found[0].evidence["link"] == "login~localpart" and found[0].severity == "medium"

"""`residual evidence`: a binding to a name nobody holds any more is `would_come_back`,
never `removed` (issue 22, "bindings to a reused name").

A history of two real scans (the Kubernetes and Okta fakes, the real CLI, time pinned with
RESIDUAL_NOW). Between them, offboarding deletes things, and leaves a binding behind:

- alice: her Okta user is deleted (her e-mail is free to be given to the next hire) but
  RoleBinding apps/alice-edit still names ``User alice@example.com``; her ServiceAccount
  apps/alice-debug is deleted but RoleBinding apps/alice-debug-edit still names it (anyone
  who may create a ServiceAccount in apps gets ``edit`` by calling it that). Both bindings
  are the residue: `would_come_back`, returning on name reuse.
- the near-misses, each of the same shape with one thing different:
  - carol's binding names her e-mail, but her Okta user still exists: the name is held,
    the access is `open` (not inert);
  - erin's Okta user is deleted too, but she holds a client certificate for her name that
    has not expired: the binding still works for her, `open`;
  - carol's ServiceAccount apps/carol-builder was deleted *with* its binding: `removed`.
- erin's IAM user is deleted too (moto), and the aws-auth ConfigMap still maps its ARN: an
  IAM user created again with that name is let in, `would_come_back`; carol's aws-auth
  entry names an ARN never seen as an account: `open` (nothing says it is free).

Also: access that names a leaver through no account linked to her (her IAM ARN in the
aws-auth ConfigMap, the binding of a group only she is known to be in) is in the evidence,
as the findings that see it (it was left out: their subject is a grant).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from fixtures import fake_kubernetes as fk
from fixtures.aws_estate import FAKE_ENV, AwsServer
from fixtures.fake_okta import FakeOkta, okta_user
from tests.conftest import run_cli, write_config

ALICE, CAROL, ERIN = "alice@example.com", "carol@example.com", "erin@example.com"
TIMES = ("2026-11-02T09:00:00+00:00", "2026-11-09T09:00:00+00:00")
ROSTER = [f"{ALICE},Alice Archer,{ALICE},human,terminated,2026-11-01,,",
          f"{CAROL},Carol Chen,{CAROL},human,terminated,2026-11-01,,aws:carol",
          f"{ERIN},Erin Evans,{ERIN},human,terminated,2026-11-01,,aws:erin",
          "bob@example.com,Bob Baker,bob@example.com,human,active,,,"]
OKTA_TOKEN = "okta-test-token-not-real"


def _cluster(erin_arn: str) -> fk.FakeKubernetes:
    k = fk.FakeKubernetes()
    k.namespace("apps")
    k.namespace("kube-system")
    # grants that name carol without going through an account linked to her: her IAM ARN
    # in aws-auth (mapped to the group "contractors"), and the binding of that group
    k.aws_auth(map_users=[{"userarn": "arn:aws:iam::111122223333:user/carol", "username": "carol",
                           "groups": ["contractors"]},
                          {"userarn": erin_arn, "username": "erin", "groups": ["ops"]}])
    k.cluster_role_binding("contractors-view", "view", [fk.group("contractors")])
    k.service_account("apps", "alice-debug", annotations={"owner": ALICE})
    k.service_account("apps", "carol-builder", annotations={"owner": CAROL})
    k.role_binding("apps", "alice-edit", "edit", [fk.user(ALICE)])
    k.role_binding("apps", "alice-debug-edit", "edit", [fk.service_account("apps", "alice-debug")])
    k.role_binding("apps", "carol-edit", "edit", [fk.user(CAROL)])
    k.role_binding("apps", "carol-builder-edit", "edit", [fk.service_account("apps", "carol-builder")])
    k.role_binding("apps", "erin-edit", "edit", [fk.user(ERIN)])
    k.csr("erin", "kubernetes-admin", fk.client_certificate(
        ERIN, ["devs"], datetime(2026, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC)))
    return k


def _okta() -> FakeOkta:
    s = FakeOkta(token=OKTA_TOKEN)
    s.users = [okta_user(f"00u{n}000000000000000", login, n.title(), "X", "ACTIVE")
               for n, login in (("alice", ALICE), ("carol", CAROL), ("erin", ERIN),
                                ("bob", "bob@example.com"))]
    return s


def _scan(cfg, when):
    r = run_cli("scan", "-q", "-c", str(cfg), env={**FAKE_ENV, "RESIDUAL_NOW": when})
    assert r.returncode in (0, 1), r.stderr[-2000:]


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reuse")
    aws = AwsServer().start()
    iam = boto3.client("iam", endpoint_url=aws.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    erin_arn = iam.create_user(UserName="erin")["User"]["Arn"]
    k, okta = _cluster(erin_arn).start(), _okta().start()
    try:
        kubeconfig = fk.write_kubeconfig(tmp / "kubeconfig", k, context="prod")
        cfg = write_config(tmp, {"collectors": {
            "kubernetes": [{"kubeconfig": str(kubeconfig), "context": "prod"}],
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": OKTA_TOKEN}],
            "aws": [{"name": "demo", "endpoint_url": aws.url, "regions": ["us-east-1"]}]},
            "network": {"max_retries": 0, "timeout_s": 5}},
            ROSTER)
        _scan(cfg, TIMES[0])
        # offboarding, as it is often done: the directory user and the ServiceAccount go,
        # the bindings that name them stay (but carol-builder's goes with its account)
        okta.users = [u for u in okta.users if u["profile"]["login"] not in (ALICE, ERIN)]
        iam.delete_user(UserName="erin")  # aws-auth still maps her ARN
        k.objects["serviceaccounts"] = [
            sa for sa in k.objects["serviceaccounts"]
            if sa["metadata"]["name"] not in ("alice-debug", "carol-builder")]
        k.objects["rolebindings"] = [
            b for b in k.objects["rolebindings"] if b["metadata"]["name"] != "carol-builder-edit"]
        _scan(cfg, TIMES[1])
        r = run_cli("evidence", "-c", str(cfg), "--from", "2026-10-01", "--to", "2026-12-31",
                    "--format", "json", env={"RESIDUAL_NOW": "2026-12-31T12:00:00+00:00"})
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout)["evidence"]
    finally:
        k.stop()
        okta.stop()
        aws.stop()


def _items(doc, ident, kind, needle):
    lv = next(lv for lv in doc["population"] if lv["id"] == ident)
    return [i for i in lv["items"] if i["kind"] == kind and needle in i["uid"]]


def test_the_leavers_directory_accounts_are_removed(doc):
    for who in (ALICE, ERIN):
        okta, = _items(doc, who, "account", "okta:")
        assert okta["state"] == "removed", okta
    carol_okta, = _items(doc, CAROL, "account", "okta:")
    assert carol_okta["state"] == "open"


def test_a_binding_to_an_email_nobody_holds_would_come_back(doc):
    grant, = _items(doc, ALICE, "grant", "User:alice@example.com")
    assert grant["state"] == "would_come_back" and grant["returns_on"] == "name reuse", grant
    assert grant["sla"] == "open" and grant["removal_at"] is None
    assert "alice@example.com" in grant["note"]
    subject, = _items(doc, ALICE, "account", "User:alice@example.com")
    assert subject["state"] == "would_come_back" and subject["returns_on"] == "name reuse"


def test_a_binding_to_a_deleted_service_account_would_come_back(doc):
    sa, = _items(doc, ALICE, "account", "ServiceAccount:apps/alice-debug")
    assert sa["state"] == "removed"  # the ServiceAccount itself is gone
    grant, = _items(doc, ALICE, "grant", "ServiceAccount:apps/alice-debug")
    assert grant["state"] == "would_come_back" and grant["returns_on"] == "name reuse", grant
    assert "alice-debug" in grant["note"]


def test_near_miss_the_name_is_still_held_by_a_directory_user(doc):
    grant, = _items(doc, CAROL, "grant", "User:carol@example.com")
    assert grant["state"] == "open" and grant["returns_on"] == "", grant


def test_near_miss_a_live_certificate_still_authenticates_as_the_name(doc):
    cert, = _items(doc, ERIN, "credential", "CSR:erin")
    assert cert["state"] == "open"
    grant, = _items(doc, ERIN, "grant", "User:erin@example.com")
    assert grant["state"] == "open" and grant["returns_on"] == "", grant


def test_near_miss_a_binding_deleted_with_its_account_is_removed(doc):
    items = _items(doc, CAROL, "grant", "ServiceAccount:apps/carol-builder")
    assert items and {i["state"] for i in items} == {"removed"}, items
    assert {i["state"] for i in _items(doc, CAROL, "account", "carol-builder")} == {"removed"}


def test_the_leavers_with_a_binding_left_are_not_met(doc):
    sla = {lv["id"]: lv["sla"] for lv in doc["population"]}
    assert sla[ALICE] == "open" and sla[ERIN] == "open" and sla[CAROL] == "open"


def test_grants_naming_the_leaver_through_no_linked_account_are_items(doc):
    lv = next(lv for lv in doc["population"] if lv["id"] == CAROL)
    found = {i["name"]: i for i in lv["items"] if i["kind"] == "finding"}
    mapping = [i for n, i in found.items() if "aws-auth" in n]
    group = [i for n, i in found.items() if "contractors-view" in n]
    assert mapping and group, sorted(found)
    assert {i["state"] for i in mapping + group} == {"open"}
    # a binding whose grant is already an item (alice's user binding) is not counted twice
    alice = next(lv for lv in doc["population"] if lv["id"] == ALICE)
    assert not [i for i in alice["items"] if i["kind"] == "finding" and "alice-edit" in i["name"]]


def test_an_aws_auth_entry_for_a_deleted_iam_user_would_come_back(doc):
    iam, = _items(doc, ERIN, "account", ":user/erin")
    assert iam["state"] == "removed"
    lv = next(lv for lv in doc["population"] if lv["id"] == ERIN)
    mapping, = [i for i in lv["items"] if i["kind"] == "finding" and "aws-auth" in i["name"]]
    assert mapping["state"] == "would_come_back" and mapping["returns_on"] == "name reuse", mapping
    assert ":user/erin" in mapping["note"]
    carol = next(lv for lv in doc["population"] if lv["id"] == CAROL)
    near, = [i for i in carol["items"] if i["kind"] == "finding" and "aws-auth" in i["name"]]
    assert near["state"] == "open" and near["returns_on"] == ""

"""The AWS collector against moto in process (mock_aws), its pure transforms, and EKS
access entries through botocore's Stubber (moto lacks them).

Every test that drives boto3 runs under the ``read_only`` guard: a botocore handler
installed for every new session that records any operation not starting with
List/Get/Describe/Generate, and fails the test at teardown if there was one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.handlers import BUILTIN_HANDLERS
from botocore.stub import Stubber
from moto import mock_aws

from collectors.aws.collector import AwsCollector
import collectors.aws.client as aws_client
import collectors.aws.collector as aws
from collectors.aws.transform import (
    REPORT_COLUMNS, assign_slots, parse_credential_report, transform_access_entry,
    transform_access_keys, transform_report_row, transform_role, transform_secret,
    transform_user, trust_principals,
)
from collectors.base import CollectorContext, Scope
from fixtures.aws_estate import (
    FAKE_ENV, SERVICE_CREDENTIALS, add_service_credential, fake_ssh_public_key,
    install_moto_extensions, set_key_dates,
)
from scanner.core import http
from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.model import Account, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

ACCT = "123456789012"
SRC = f"aws:{ACCT}"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
HEADER = ",".join(REPORT_COLUMNS)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def read_only():
    """Fails the test if the collector's clients (user agent "residual-scanner"; the
    test's own planting clients are not watched) make any AWS operation other than
    List/Get/Describe/Generate, in a boto3 session created while it is active."""
    seen: list[str] = []

    def guard(model=None, context=None, **_):
        cfg = (context or {}).get("client_config")
        ours = cfg is not None and "residual-scanner" in (cfg.user_agent_extra or "")
        if ours and model is not None and not model.name.startswith(aws_client.READ_PREFIXES):
            seen.append(model.name)

    entry = ("before-call", guard)
    BUILTIN_HANDLERS.append(entry)
    try:
        yield seen
    finally:
        BUILTIN_HANDLERS.remove(entry)
    assert seen == [], f"non-read AWS operations: {seen}"


@pytest.fixture
def moto_env(monkeypatch):
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    install_moto_extensions()
    SERVICE_CREDENTIALS.clear()
    with mock_aws():
        yield
    SERVICE_CREDENTIALS.clear()


def collector(tmp_path: Path, **config) -> AwsCollector:
    cfg = {k: (list(o.default) if isinstance(o.default, list) else o.default)
           for k, o in AwsCollector.options.items()}
    cfg.update(config)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path,
                           now=datetime(2026, 11, 21, 12, tzinfo=UTC))
    return AwsCollector(cfg, ctx)


class Run:
    """A scan's worth of records, in an in-memory inventory."""

    def __init__(self):
        self.inv = Inventory(":memory:")
        self.scan = self.inv.begin_scan("test")
        self.sink = Sink(self.inv, self.scan)

    def load(self, cls, where: str = ""):
        self.sink.flush()
        return self.inv.load(cls, self.scan, where)

    def creds(self, deep: bool | None = None) -> list[Credential]:
        out = self.load(Credential)
        if deep is not None:
            out = [c for c in out if bool(c.attributes.get("deep")) == deep]
        return out

    def coverage(self) -> list[Coverage]:
        return self.load(Coverage)


def plant_alice(iam):
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "platform"}])
    iam.create_login_profile(UserName="alice", Password="Fake-Not-Real-Passw0rd")
    k1 = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    k2 = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    set_key_dates("alice", k1, created=datetime(2025, 6, 1, 10, tzinfo=UTC),
                  last_used=datetime(2026, 11, 10, 3, tzinfo=UTC))
    set_key_dates("alice", k2, created=datetime(2026, 8, 15, 10, tzinfo=UTC))
    iam.upload_ssh_public_key(UserName="alice", SSHPublicKeyBody=fake_ssh_public_key("alice"))
    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    iam.create_role(RoleName="deploy-role", AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"AWS":"%s","Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}' % ALICE))
    return k1, k2


# --- pure transforms ------------------------------------------------------------------------


def row(**over) -> dict[str, str]:
    base = dict.fromkeys(REPORT_COLUMNS, "N/A")
    base.update(user="alice", arn=ALICE, password_enabled="false", mfa_active="false",
                access_key_1_active="false", access_key_2_active="false",
                cert_1_active="false", cert_2_active="false")
    base.update(over)
    return base


def test_credential_report_parsing_skips_root_and_counts_malformed_rows():
    text = "\n".join([
        HEADER,
        ",".join(row(user="<root_account>", arn=f"arn:aws:iam::{ACCT}:root").values()),
        ",".join(row().values()),
        "bob,arn:aws:iam::1:user/bob,truncated",
        ",".join(row(user="carl", arn="not-an-arn").values()),
    ])
    rows, bad = parse_credential_report(text.encode())
    assert list(rows) == ["alice"]
    assert bad == 2
    with pytest.raises(ValueError):
        parse_credential_report(b"garbage without header\n")


def test_report_row_gives_password_key_slots_and_certs():
    r = row(password_enabled="true", password_last_used="2026-10-28T17:30:00+00:00",
            password_last_changed="2025-02-03T09:00:00+00:00",
            access_key_1_active="true", access_key_1_last_rotated="2025-06-01T10:00:00+00:00",
            access_key_1_last_used_date="2026-11-10T03:12:00+00:00",
            access_key_2_active="false", access_key_2_last_rotated="2026-01-01T00:00:00+00:00",
            cert_1_active="true")
    creds = {c.native_id: c for c in transform_report_row(r, f"{SRC}|{ALICE}", SRC)}
    pw = creds[f"{ALICE}#password"]
    assert pw.kind == "password" and pw.status == "active"
    assert pw.rotated_at == datetime(2025, 2, 3, 9, tzinfo=UTC)
    assert pw.last_used_at == datetime(2026, 10, 28, 17, 30, tzinfo=UTC)
    k1 = creds[f"{ALICE}#access_key_1"]
    assert (k1.status, k1.attributes["slot"], k1.attributes["never_expires"]) == ("active", 1, True)
    assert k1.last_used_at == datetime(2026, 11, 10, 3, 12, tzinfo=UTC)
    assert creds[f"{ALICE}#access_key_2"].status == "inactive"
    assert creds[f"{ALICE}#cert_1"].kind == "signing_cert"
    assert f"{ALICE}#cert_2" not in creds
    # an empty row: no password, no key, no cert -> nothing
    assert transform_report_row(row(), "h", SRC) == []


def test_trust_principals_reads_every_allow_statement_form():
    doc = {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [ALICE, "111122223333"]},
         "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:saml-provider/okta"},
         "Action": "sts:AssumeRoleWithSAML", "Condition": {"StringEquals": {"x": "y"}}},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:user/mallory"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
    ]}
    got = {(p["principal"], p["action"], p["conditions"]) for p in trust_principals(doc)}
    assert got == {(ALICE, "sts:AssumeRole", False), ("111122223333", "sts:AssumeRole", False),
                   ("arn:aws:iam::1:saml-provider/okta", "sts:AssumeRoleWithSAML", True),
                   ("*", "sts:AssumeRole", False)}
    # the raw API's URL-encoded form
    encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22" \
              "arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fbob%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D"
    assert [p["principal"] for p in trust_principals(encoded)] == ["arn:aws:iam::1:user/bob"]


def test_role_transform_makes_account_resource_and_trust_grants():
    role = {"RoleName": "deploy-role", "Arn": f"arn:aws:iam::{ACCT}:role/deploy-role",
            "Tags": [{"Key": "owner", "Value": "bob@example.com"}],
            "RoleLastUsed": {"LastUsedDate": datetime(2026, 11, 2, tzinfo=UTC)},
            "AssumeRolePolicyDocument": {"Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}]}}
    acc, res, grants = transform_role(role, SRC)
    assert acc.kind == "role" and acc.attributes["tags"] == {"owner": "bob@example.com"}
    assert acc.last_seen_at == datetime(2026, 11, 2, tzinfo=UTC)
    assert res.kind == "role" and res.uid == f"{SRC}|{role['Arn']}"
    assert [(g.principal, g.resource, g.permission, g.via) for g in grants] == \
        [(ALICE, res.uid, "sts:AssumeRole", "trust")]
    slr = {**role, "Path": "/aws-service-role/ecs.amazonaws.com/"}
    assert transform_role(slr, SRC)[0] is None  # AWS's own role: no account to own


def test_user_transform_tags_and_group_membership():
    acc, grants = transform_user({"UserName": "svc-deploy", "Arn": f"arn:aws:iam::{ACCT}:user/svc-deploy",
                                  "GroupList": ["deployers"],
                                  "Tags": [{"Key": "owner", "Value": "alice@example.com"}]}, SRC)
    assert acc.kind == "service_account" and acc.attributes["tags"]["owner"] == "alice@example.com"
    assert [(g.resource, g.via) for g in grants] == [(f"{SRC}|arn:aws:iam::{ACCT}:group/deployers", "direct")]
    human, _ = transform_user({"UserName": "bob", "Arn": "arn:aws:iam::1:user/bob",
                               "Tags": [{"Key": "email", "Value": "bob@example.com"}]}, SRC)
    assert (human.kind, human.email) == ("user", "bob@example.com")


def test_slots_map_by_create_date_then_by_order():
    r = row(access_key_1_last_rotated="2025-06-01T10:00:00+00:00",
            access_key_2_last_rotated="2026-08-15T10:00:00+00:00")
    keys = [{"AccessKeyId": "AKIAB", "CreateDate": datetime(2026, 8, 15, 10, 0, 0, 400000, tzinfo=UTC)},
            {"AccessKeyId": "AKIAA", "CreateDate": datetime(2025, 6, 1, 10, tzinfo=UTC)}]
    assert assign_slots(keys, r) == {"AKIAA": 1, "AKIAB": 2}
    same = row(access_key_1_last_rotated="2026-01-01T00:00:00+00:00",
               access_key_2_last_rotated="2026-01-01T00:00:00+00:00")
    both = [{"AccessKeyId": "AKIAX", "CreateDate": datetime(2026, 1, 1, tzinfo=UTC)},
            {"AccessKeyId": "AKIAY", "CreateDate": datetime(2026, 1, 1, tzinfo=UTC)}]
    assert assign_slots(both, same) == {"AKIAX": 1, "AKIAY": 2}


def test_deep_keys_refine_slots_and_mark_removed_keys_revoked():
    r = row(access_key_1_active="true", access_key_1_last_rotated="2025-06-01T10:00:00+00:00",
            access_key_1_last_used_date="2026-11-10T03:12:00+00:00",
            access_key_2_active="true", access_key_2_last_rotated="2026-08-15T10:00:00+00:00")
    keys = [{"AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "Active",
             "CreateDate": datetime(2025, 6, 1, 10, tzinfo=UTC)}]
    out = {c.native_id: c for c in transform_access_keys(ALICE, "alice", "h", SRC, keys, r)}
    k1 = out[f"{ALICE}#access_key_1"]
    assert (k1.name, k1.attributes["access_key_id"], k1.attributes["deep"]) == \
        ("AKIAAAAAAAAAAAAAAAAA", "AKIAAAAAAAAAAAAAAAAA", True)
    assert k1.last_used_at == datetime(2026, 11, 10, 3, 12, tzinfo=UTC)
    assert out[f"{ALICE}#access_key_2"].status == "revoked"


def test_ssh_fingerprint_matches_openssh_format():
    pub = fake_ssh_public_key("alice")
    fp = ssh_fingerprint(pub)
    assert fp.startswith("SHA256:") and "=" not in fp and len(fp) == 50
    assert ssh_fingerprint("ssh-ed25519 !!!notbase64") is None
    assert ssh_fingerprint("") is None


def test_secret_transform_keeps_rotation_metadata_only():
    s = transform_secret({"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbC", "Name": "db",
                          "LastChangedDate": datetime(2026, 6, 1, tzinfo=UTC),
                          "Tags": [{"Key": "owner", "Value": "alice@example.com"}]}, SRC, "us-east-1")
    assert s.kind == "secret_store" and s.updated_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert s.attributes["tags"] == {"owner": "alice@example.com"}
    assert s.attributes["rotation_enabled"] is False


def test_access_entry_transform_is_a_mapping_grant():
    g = transform_access_entry({"principalArn": ALICE, "username": "alice",
                                "kubernetesGroups": ["system:masters", "dev"], "type": "STANDARD"},
                               f"{SRC}|arn:aws:eks:us-east-1:{ACCT}:cluster/prod", SRC)
    assert (g.via, g.principal, g.permission) == ("mapping", ALICE, "user:alice groups:dev,system:masters")


# --- the collector against moto -----------------------------------------------------------------


def test_bulk_pass_reads_the_account_in_a_handful_of_calls(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    plant_alice(iam)
    for i in range(30):
        iam.create_user(UserName=f"user{i}")
        iam.create_access_key(UserName=f"user{i}")
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="prod/db", SecretString="fake-not-a-secret",
                     Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    cc = add_service_credential("alice", created=datetime(2025, 3, 1, tzinfo=UTC))
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)

    accounts = {a.login: a for a in run.load(Account)}
    assert set(accounts) >= {"alice", "deploy-role", "user0", "user29"}
    assert accounts["alice"].native_id == ALICE and accounts["alice"].source == SRC
    creds = {c_.native_id: c_ for c_ in run.creds()}
    assert {f"{ALICE}#password", f"{ALICE}#access_key_1", f"{ALICE}#access_key_2"} <= set(creds)
    assert creds[f"{ALICE}#access_key_1"].last_used_at == datetime(2026, 11, 10, 3, tzinfo=UTC)
    assert len([x for x in creds.values() if x.kind == "access_key"]) == 32
    svc = creds[cc]
    assert (svc.kind, svc.holder, svc.scopes, svc.status) == \
        ("service_credential", f"{SRC}|{ALICE}", ["codecommit.amazonaws.com"], "active")
    assert svc.attributes["never_expires"] is True
    trust = [g for g in run.load(Grant) if g.via == "trust"]
    assert {g.principal for g in trust} == {ALICE, "ec2.amazonaws.com"}
    member = [g for g in run.load(Grant) if g.via == "direct"]
    assert [(g.principal, g.permission) for g in member] == [(f"{SRC}|{ALICE}", "member")]
    secrets = [r for r in run.load(Resource) if r.kind == "secret_store"]
    assert [s.attributes["tags"]["owner"] for s in secrets] == ["alice@example.com"]

    cov = {r.target: r for r in run.coverage()}
    main = cov[ACCT]
    assert main.status == "ok" and main.layer == "cloud"
    # sts, generate + get credential report, authorization details, service-specific
    # credentials, secrets, eks list
    assert main.api_calls == c.calls == 7
    assert [r.status for r in cov.values()] == ["ok"]


def test_endpoint_that_lacks_an_optional_operation_is_skipped(tmp_path, moto_env, read_only,
                                                            monkeypatch):
    real = AwsCollector._call

    def lacking(self, client, op, **kw):
        if op == "list_service_specific_credentials":
            raise NotImplementedError("The list_service_specific_credentials action has not been implemented")
        return real(self, client, op, **kw)
    monkeypatch.setattr(AwsCollector, "_call", lacking)
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    cov = {r.target: r for r in run.coverage()}
    row_ = cov[f"{ACCT}/iam:service_specific_credentials"]
    assert row_.status == "skipped" and "not implemented" in row_.error
    assert cov[ACCT].status == "ok"  # an optional part missing is said, not a failure


def test_deep_pass_for_scoped_users_only(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    k1, k2 = plant_alice(iam)
    iam.create_user(UserName="bob")
    iam.create_access_key(UserName="bob")
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    bulk_calls = c.calls
    c.deepen(run.sink, Scope(logins={"aws": {"alice", "carol"}}))

    deep = {x.native_id: x for x in run.creds(deep=True)}
    assert deep[f"{ALICE}#access_key_1"].name == k1
    assert deep[f"{ALICE}#access_key_2"].attributes["access_key_id"] == k2
    assert deep[f"{ALICE}#access_key_1"].last_used_at == datetime(2026, 11, 10, 3, tzinfo=UTC)
    ssh = [x for x in deep.values() if x.kind == "ssh_key"]
    assert [s.fingerprint for s in ssh] == [ssh_fingerprint(fake_ssh_public_key("alice"))]
    assert deep[f"{ALICE}#password"].status == "active"
    assert not any("bob" in x.native_id for x in deep.values())  # bob is not in scope
    # alice: list keys, list ssh, get ssh, get login profile (no MFA, no cert: skipped)
    assert c.calls - bulk_calls == 4
    rows = [r for r in run.coverage() if r.attributes.get("pass") == "deep"]
    assert len(rows) == 1 and rows[0].api_calls == 4 and rows[0].status == "ok"


def test_deep_pass_reads_mfa_and_certificates_when_the_report_says_so(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    c.deepen(run.sink, Scope(accounts={f"{SRC}|{ALICE}"}))
    kinds = {x.kind: x for x in run.creds(deep=True)}
    assert kinds["mfa_device"].native_id == serial


def test_leaked_key_id_is_tied_to_its_user(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    iam.create_user(UserName="svc-old")
    kid = iam.create_access_key(UserName="svc-old")["AccessKey"]["AccessKeyId"]
    set_key_dates("svc-old", kid, last_used=datetime(2026, 11, 20, tzinfo=UTC))
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    # the id came from an IaC file; svc-old is in nobody's scope otherwise
    c.deepen(run.sink, Scope(identifiers={kid, "AKIAZZZZZZZZZZZZZZZZ", "not-a-key"}))
    deep = run.creds(deep=True)
    assert [(x.name, x.holder) for x in deep] == [(kid, f"{SRC}|arn:aws:iam::{ACCT}:user/svc-old")]
    assert deep[0].last_used_at == datetime(2026, 11, 20, tzinfo=UTC)
    row_ = [r for r in run.coverage() if r.attributes.get("pass") == "deep"][0]
    assert row_.status == "ok"  # the unknown key id is skipped, not an error
    # the two AKIA ids were asked about, then svc-old's keys listed; "not-a-key" never
    assert row_.api_calls == 3


def test_leaked_key_of_a_scoped_user_needs_no_extra_call(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    kid = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    c.deepen(run.sink, Scope(logins={"aws": {"alice"}}, identifiers={kid}))
    assert [x.name for x in run.creds(deep=True)] == [kid]
    row_ = [r for r in run.coverage() if r.attributes.get("pass") == "deep"][0]
    assert row_.api_calls == 2  # list_access_keys, list_ssh_public_keys: no GetAccessKeyLastUsed


def test_removed_password_since_the_report_is_revoked_in_the_deep_pass(tmp_path, moto_env, read_only):
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Fake-Not-Real-Passw0rd")
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    # the login profile goes between the report and the deep pass (moto's report is
    # regenerated on demand, so take it away from the backend directly)
    from fixtures.aws_estate import iam_backend
    iam_backend().users["alice"].password = None
    c.deepen(run.sink, Scope(logins={"aws": {"alice"}}))
    pw = [x for x in run.creds(deep=True) if x.kind == "password"]
    assert [p.status for p in pw] == ["revoked"]


def test_malformed_entries_are_skipped_counted_and_make_coverage_partial(tmp_path, moto_env,
                                                                         read_only, monkeypatch):
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    real = AwsCollector._call

    def tampered(self, client, op, **kw):
        out = real(self, client, op, **kw)
        if op == "get_account_authorization_details":
            out = {**out, "UserDetailList": out["UserDetailList"] + [{"UserName": "ghost"}],
                   "RoleDetailList": [{"RoleName": "bad", "Arn": "arn:aws:iam::1:role/bad",
                                       "AssumeRolePolicyDocument": "{not json"}]}
        return out
    monkeypatch.setattr(AwsCollector, "_call", tampered)
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    assert [a.login for a in run.load(Account)] == ["alice"]
    main = [r for r in run.coverage() if r.target == ACCT][0]
    assert main.status == "partial" and main.attributes["malformed"] == 2
    assert "malformed" in main.error


def test_throttling_is_retried_with_backoff_and_every_attempt_counted(tmp_path, moto_env,
                                                                       read_only, monkeypatch):
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    failures = {"n": 0}

    def throttle(request=None, **_):
        # two throttled answers for the authorization details, then the real one
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        if b"GetAccountAuthorizationDetails" in body and failures["n"] < 2:
            failures["n"] += 1
            from botocore.awsrequest import AWSResponse

            class Raw:
                def stream(self, **_):
                    yield b""
            body = (b"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded"
                    b"</Message></Error></ErrorResponse>")
            resp = AWSResponse(request.url, 400, {"Retry-After": "3"}, Raw())
            resp._content = body
            return resp
        return None
    entry = ("before-send.iam", throttle)
    BUILTIN_HANDLERS.insert(0, entry)
    try:
        run, c = Run(), collector(tmp_path)
        c.collect(run.sink)
    finally:
        BUILTIN_HANDLERS.remove(entry)
    assert failures["n"] == 2
    assert waits[:2] == [3.0, 3.0]  # Retry-After honoured
    main = [r for r in run.coverage() if r.target == ACCT][0]
    assert main.status == "ok" and main.api_calls == 7 + 2
    assert [a.login for a in run.load(Account)] == ["alice"]


def test_access_denied_on_optional_part_is_skipped_with_reason(tmp_path, moto_env, read_only,
                                                              monkeypatch):
    from botocore.exceptions import ClientError
    real = AwsCollector._call

    def deny(self, client, op, **kw):
        if op == "list_secrets":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListSecrets")
        if op == "list_clusters":
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "boom"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "ListClusters")
        return real(self, client, op, **kw)
    monkeypatch.setattr(AwsCollector, "_call", deny)
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    cov = {r.target: r for r in run.coverage()}
    assert cov[f"{ACCT}/secretsmanager:us-east-1"].status == "skipped"
    assert "AccessDeniedException" in cov[f"{ACCT}/secretsmanager:us-east-1"].error
    # an error that is not a refusal makes the account partial: never clean
    assert cov[ACCT].status == "partial" and "eks:us-east-1" in cov[ACCT].error


def test_unreachable_endpoint_fails_the_target_quickly(tmp_path, moto_env, monkeypatch):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    run, c = Run(), collector(tmp_path, endpoint_url=f"http://127.0.0.1:{port}", name="prod")
    c.collect(run.sink)
    cov = run.coverage()
    assert [(r.status, r.target) for r in cov] == [("failed", "prod")]
    assert "Could not connect" in cov[0].error
    assert len(waits) == aws_client.CONNECT_RETRIES and cov[0].api_calls == aws_client.CONNECT_RETRIES + 1


def test_read_only_guard_sees_collector_writes(tmp_path, moto_env, read_only):
    """The guard itself must be able to fail: a write through a collector client."""
    iam = collector(tmp_path)._client(boto3.Session(), "iam")
    iam.create_user(UserName="x")
    boto3.client("iam").create_user(UserName="y")  # the test's own client: not watched
    assert read_only == ["CreateUser"]
    read_only.clear()


def test_assume_roles_scans_each_account(tmp_path, moto_env, read_only):
    run, c = Run(), collector(tmp_path, assume_roles=["arn:aws:iam::210987654321:role/residual-audit"])
    boto3.client("iam").create_user(UserName="alice")
    c.collect(run.sink)
    # the one operation outside List/Get/Describe/Generate the collector may send
    assert read_only == ["AssumeRole"]
    read_only.clear()
    targets = sorted(r.target for r in run.coverage() if "/" not in r.target)
    assert targets == ["123456789012", "210987654321"]
    sources = {a.source for a in run.load(Account)}
    assert sources == {SRC}  # the second account (moto: empty) contributes no users


def test_identity_center_users_and_assignments(tmp_path, moto_env, read_only):
    # planting uses write calls: do it with a session made before the guard matters
    sso = boto3.client("sso-admin")
    store = boto3.client("identitystore")
    inst = sso.list_instances()["Instances"][0]
    uid = store.create_user(IdentityStoreId=inst["IdentityStoreId"], UserName="alice",
                            DisplayName="Alice", Name={"GivenName": "A", "FamilyName": "A"},
                            Emails=[{"Value": "alice@example.com", "Primary": True}])["UserId"]
    ps = sso.create_permission_set(InstanceArn=inst["InstanceArn"], Name="Admin")["PermissionSet"]["PermissionSetArn"]
    sso.create_account_assignment(InstanceArn=inst["InstanceArn"], TargetId=ACCT,
                                  TargetType="AWS_ACCOUNT", PermissionSetArn=ps,
                                  PrincipalType="USER", PrincipalId=uid)
    run, c = Run(), collector(tmp_path, identity_center=True)
    c.collect(run.sink)
    users = [a for a in run.load(Account) if a.attributes.get("identity_center")]
    assert [(u.login, u.email) for u in users] == [("alice", "alice@example.com")]
    grants = [g for g in run.load(Grant) if g.via == "assignment"]
    assert [(g.principal, g.resource) for g in grants] == [(users[0].uid, f"{SRC}|{ps}")]


def test_identity_center_is_read_in_its_home_region(tmp_path, moto_env, read_only):
    """The instance lives in eu-west-1; the scan's first region is us-east-1."""
    sso = boto3.client("sso-admin", region_name="eu-west-1")
    store = boto3.client("identitystore", region_name="eu-west-1")
    inst = sso.list_instances()["Instances"][0]
    store.create_user(IdentityStoreId=inst["IdentityStoreId"], UserName="alice", DisplayName="Alice",
                      Name={"GivenName": "A", "FamilyName": "A"},
                      Emails=[{"Value": "alice@example.com", "Primary": True}])
    run, c = Run(), collector(tmp_path, identity_center=True, regions=["us-east-1", "eu-west-1"],
                              identity_center_region="eu-west-1")
    c.collect(run.sink)
    users = [a for a in run.load(Account) if a.attributes.get("identity_center")]
    assert [u.login for u in users] == ["alice"]
    (cov,) = [x for x in run.load(Coverage) if x.target == ACCT]
    assert cov.attributes["identity_center_region"] == "eu-west-1"


def test_eks_access_entries_with_stubber(tmp_path, moto_env):
    """moto has no EKS access entries: drive the collector's EKS part through
    botocore's Stubber with payloads shaped like the real API."""
    c = collector(tmp_path)
    eks = boto3.client("eks", region_name="us-east-1")
    stub = Stubber(eks)
    cluster_arn = f"arn:aws:eks:us-east-1:{ACCT}:cluster/prod"
    stub.add_response("list_clusters", {"clusters": ["prod"]})
    stub.add_response("describe_cluster", {"cluster": {
        "name": "prod", "arn": cluster_arn, "version": "1.30",
        "createdAt": datetime(2025, 1, 1, tzinfo=UTC),
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"}}}, {"name": "prod"})
    entries = ((ALICE, "alice", ["system:masters"]),
               (f"arn:aws:iam::{ACCT}:role/nodes", "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]))
    # pages are read one at a time, each page's entries described before the next page
    for i, (principal, user, groups) in enumerate(entries):
        page = {"accessEntries": [principal], **({"nextToken": "t1"} if i == 0 else {})}
        stub.add_response("list_access_entries", page,
                          {"clusterName": "prod", **({"nextToken": "t1"} if i else {})})
        stub.add_response("describe_access_entry", {"accessEntry": {
            "clusterName": "prod", "principalArn": principal, "kubernetesGroups": groups,
            "accessEntryArn": f"arn:aws:eks:us-east-1:{ACCT}:access-entry/prod/x",
            "createdAt": datetime(2025, 2, 1, tzinfo=UTC), "modifiedAt": datetime(2025, 2, 1, tzinfo=UTC),
            "tags": {}, "username": user, "type": "STANDARD"}},
            {"clusterName": "prod", "principalArn": principal})
    stub.activate()
    monkeypatch_client = lambda session, service, region=None: eks  # noqa: E731
    c._client = monkeypatch_client
    run = Run()
    from collectors.aws.collector import AwsTarget
    t = AwsTarget(ACCT, None, SRC)
    with c.target(run.sink, ACCT) as r:
        c._eks(run.sink, t, "us-east-1", r)
    assert [x.status for x in run.coverage()] == ["ok"], [x.error for x in run.coverage()]
    stub.assert_no_pending_responses()
    clusters = [x for x in run.load(Resource) if x.kind == "cluster"]
    assert [(x.native_id, x.attributes["authentication_mode"]) for x in clusters] == \
        [(cluster_arn, "API_AND_CONFIG_MAP")]
    maps = {g.principal: (g.permission, g.resource) for g in run.load(Grant)}
    assert maps[ALICE] == ("user:alice groups:system:masters", f"{SRC}|{cluster_arn}")
    assert len(maps) == 2 and all(g.via == "mapping" for g in run.load(Grant))


def test_eks_config_map_clusters_ask_no_access_entries(tmp_path, moto_env):
    c = collector(tmp_path)
    eks = boto3.client("eks", region_name="us-east-1")
    stub = Stubber(eks)
    stub.add_response("list_clusters", {"clusters": ["old"]})
    stub.add_response("describe_cluster", {"cluster": {
        "name": "old", "arn": f"arn:aws:eks:us-east-1:{ACCT}:cluster/old"}}, {"name": "old"})
    stub.activate()
    c._client = lambda session, service, region=None: eks
    run = Run()
    from collectors.aws.collector import AwsTarget
    with c.target(run.sink, ACCT) as r:
        c._eks(run.sink, AwsTarget(ACCT, None, SRC), "us-east-1", r)
    stub.assert_no_pending_responses()  # and no list_access_entries was asked
    assert [x.attributes["authentication_mode"] for x in run.load(Resource)] == ["CONFIG_MAP"]


def test_never_reads_secret_values(tmp_path, moto_env, read_only):
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="db", SecretString="fake-value-sentinel-9f3b")
    run, c = Run(), collector(tmp_path)
    c.collect(run.sink)
    dump = repr(run.load(Resource)) + repr(run.creds())
    assert "sentinel" not in dump
    # GetSecretValue starts with Get: the guard would let it through, so check by name
    ops: list[str] = []
    entry = ("before-call", lambda model=None, **_: ops.append(model.name))
    BUILTIN_HANDLERS.append(entry)
    try:
        run2, c2 = Run(), collector(tmp_path)
        c2.collect(run2.sink)
    finally:
        BUILTIN_HANDLERS.remove(entry)
    assert "ListSecrets" in ops and "GetSecretValue" not in ops and "DescribeSecret" not in ops


def test_paged_authorization_details_are_all_read(tmp_path, moto_env):
    """moto answers in one page: drive the paging through Stubber with the real
    Marker/IsTruncated and NextToken shapes."""
    c = collector(tmp_path, regions=["us-east-1", "eu-west-1"])
    iam = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(iam)
    page = lambda users, **more: {"UserDetailList": users, "GroupDetailList": [],  # noqa: E731
                                  "RoleDetailList": [], "Policies": [], **more}
    u = lambda n: {"UserName": n, "Arn": f"arn:aws:iam::{ACCT}:user/{n}", "UserId": "AIDA" + n.upper().ljust(16, "X"),  # noqa: E731
                   "Path": "/", "CreateDate": datetime(2025, 1, 1, tzinfo=UTC)}
    common = {"MaxItems": 1000, "Filter": ["User", "Group", "Role"]}
    stub.add_response("get_account_authorization_details",
                      page([u("a1")], IsTruncated=True, Marker="m1"), common)
    stub.add_response("get_account_authorization_details",
                      page([u("a2")], IsTruncated=True, Marker="m2"), {**common, "Marker": "m1"})
    stub.add_response("get_account_authorization_details",
                      page([u("a3")], IsTruncated=False), {**common, "Marker": "m2"})
    stub.activate()
    c._client = lambda session, service, region=None: iam
    from collectors.aws.collector import AwsTarget
    run, t = Run(), AwsTarget(ACCT, None, SRC)
    with c.target(run.sink, ACCT):
        c._authorization_details(run.sink, iam, t, {})
    stub.assert_no_pending_responses()
    assert sorted(t.users) == ["a1", "a2", "a3"]
    assert sorted(a.login for a in run.load(Account)) == ["a1", "a2", "a3"]


def test_secrets_are_read_in_every_configured_region(tmp_path, moto_env, read_only):
    for region in ("us-east-1", "eu-west-1"):
        boto3.client("secretsmanager", region_name=region).create_secret(
            Name=f"app-{region}", SecretString="fake-not-a-secret")
    run, c = Run(), collector(tmp_path, regions=["us-east-1", "eu-west-1"])
    c.collect(run.sink)
    got = sorted((r.name, r.attributes["region"]) for r in run.load(Resource) if r.kind == "secret_store")
    assert got == [("app-eu-west-1", "eu-west-1"), ("app-us-east-1", "us-east-1")]
    main = [r for r in run.coverage() if r.target == ACCT][0]
    assert main.api_calls == 7 + 2  # one more ListSecrets and ListClusters for eu-west-1


def test_persistent_server_errors_are_retried_a_bounded_number_of_times(tmp_path, moto_env,
                                                                      monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_):
            yield b""

    def unavailable(request=None, **_):
        resp = AWSResponse(request.url, 503, {}, Raw())
        resp._content = b"<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>"
        return resp
    entry = ("before-send.sts", unavailable)
    BUILTIN_HANDLERS.insert(0, entry)
    try:
        run, c = Run(), collector(tmp_path)
        c.collect(run.sink)
    finally:
        BUILTIN_HANDLERS.remove(entry)
    cov = run.coverage()
    assert [r.status for r in cov] == ["failed"]
    retries = c.ctx.max_retries
    assert cov[0].api_calls == retries + 1 and waits == list(aws_client.backoff_delays(retries))


def test_credential_report_in_progress_is_polled_with_bounded_waits(tmp_path, moto_env, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    c = collector(tmp_path)
    iam = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(iam)
    stub.add_response("generate_credential_report", {"State": "STARTED"})
    stub.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    content = (HEADER + "\n" + ",".join(row().values()) + "\n").encode()
    stub.add_response("get_credential_report", {"Content": content, "ReportFormat": "text/csv"})
    stub.activate()
    run = Run()
    with c.target(run.sink, ACCT) as r:
        rows = c._credential_report(iam, r)
    stub.assert_no_pending_responses()
    assert list(rows) == ["alice"] and len(waits) == 1

    # never ready: gives up after a bounded number of polls, the account is partial
    iam = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(iam)
    stub.add_response("generate_credential_report", {"State": "STARTED"})
    for _ in range(c.ctx.max_retries + 3):
        stub.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    stub.activate()
    with c.target(run.sink, ACCT) as r:
        assert c._credential_report(iam, r) is None
    stub.assert_no_pending_responses()
    assert [x.status for x in run.coverage()] == ["ok", "partial"]


def test_a_listing_that_never_ends_fails_the_target_at_max_pages(tmp_path, moto_env):
    c = collector(tmp_path)
    c.ctx.max_pages = 3
    iam = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(iam)
    for i in range(3):  # every page says "more", with a new marker each time
        stub.add_response("get_account_authorization_details",
                          {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [],
                           "Policies": [], "IsTruncated": True, "Marker": f"m{i + 1}"})
    stub.activate()
    from collectors.aws.collector import AwsTarget
    run = Run()
    with c.target(run.sink, ACCT):
        c._authorization_details(run.sink, iam, AwsTarget(ACCT, None, SRC), {})
    stub.assert_no_pending_responses()  # exactly max_pages requests, no fourth
    row_ = run.coverage()[0]
    assert row_.status == "failed" and "more than 3 pages" in row_.error

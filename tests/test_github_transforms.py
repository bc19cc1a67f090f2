"""Pure transforms on GitHub's own sample payloads, and the fake's fidelity to them: the
fake must answer with exactly the field names and shapes of
fixtures/samples/github/ (else tests would pass against a GitHub that
does not exist)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from collectors.github.transform import (
    Org, scrub_last_eight, transform_credential_authorization, transform_deploy_key, transform_fine_grained_pat, transform_installation, transform_invitation, transform_member, transform_saml, transform_secret,
)
from fixtures import SAMPLES as SAMPLES_ROOT
from fixtures.fake_github import DEMO_TOKEN, demo_org, fake_ssh_key
from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.secrets import Fingerprinter
from scanner.core.timeparse import parse_time

SAMPLES = (SAMPLES_ROOT / "github")
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"test-key-0123456789abcdef")
ORG = Org("octo-org")

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason="reference samples not present")


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


# --- transforms on the real payloads -----------------------------------------------------

@needs_samples
def test_saml_identities_link_logins_to_corporate_emails():
    conn = sample("graphql_org_membersWithRole_samlIdentityProvider.json")["data"]["organization"]
    linked = transform_saml(conn["samlIdentityProvider"]["externalIdentities"]["edges"])
    assert linked == {"octocat": ["octocat@example.com"], "monalisa": ["monalisa@example.com"]}
    edges = conn["membersWithRole"]["edges"]
    acc, grant = transform_member(ORG, edges[1], linked)
    assert acc.native_id == "monalisa" and acc.email == "monalisa@example.com"
    assert acc.attributes["linked_emails"] == ["monalisa@example.com"]
    assert grant.permission == "member" and grant.resource == "github:octo-org|octo-org"
    octo, _ = transform_member(ORG, edges[0], linked)
    assert octo.email is None and octo.attributes["org_role"] == "admin"  # "" is no e-mail


@needs_samples
def test_credential_authorizations_keep_only_a_keyed_handle():
    items = scrub_last_eight(FP)(sample("orgs_ORG_credential-authorizations.json"))
    assert all(i.get("token_last_eight") is None for i in items)
    pat, _, ssh = (transform_credential_authorization(ORG, i, FP, NOW) for i in items)
    assert pat.kind == "pat" and pat.holder == "github:octo-org|octocat"
    assert pat.fingerprint == FP.last8("71c3fc11") and pat.hint == "…fc11"
    assert pat.status == "expired" and pat.expires_at == datetime(2011, 2, 25, 19, 6, 43, tzinfo=UTC)
    assert pat.scopes == ["user", "repo"] and "never_expires" not in pat.attributes
    assert ssh.kind == "ssh_key" and ssh.fingerprint == "jklmnop12345678" and ssh.last_used_at is None
    assert ssh.name == "my ssh key"
    assert "71c3fc11" not in repr(pat)


@needs_samples
def test_invitations_with_empty_strings_and_nulls():
    a, b = (transform_invitation(ORG, i) for i in sample("orgs_ORG_invitations.json"))
    assert a.status == b.status == "pending"
    assert a.email == "octocat@github.com" and a.login == "monalisa"
    assert b.login == "" and b.email == "foo@bar.org" and b.native_id == "invitation:28984230"
    assert a.created_at == datetime(2016, 11, 30, 14, 46, 10, tzinfo=UTC)  # -08:00 -> UTC


@needs_samples
def test_deploy_keys_from_rest():
    keys = [transform_deploy_key(ORG, "Hello-World", k, NOW) for k in sample("repos_OWNER_REPO_keys.json")]
    first, second, _ = keys
    assert first.fingerprint is None and first.native_id == "octo-org/Hello-World/keys/1"  # "AAA..."
    assert second.fingerprint.startswith("SHA256:") and second.native_id.endswith(second.fingerprint)
    own = transform_deploy_key(Org("hub4j-test-org"), "github-api-test", sample("repos_OWNER_REPO_keys.json")[1], NOW)
    assert own.holder is None  # added by the org itself, not a user
    assert first.holder == "github:octo-org|octocat" and first.attributes["read_only"] is True
    assert first.last_used_at == datetime(2022, 1, 10, 15, 53, 42, tzinfo=UTC)


@needs_samples
def test_fine_grained_pats_installations_and_secrets():
    pat = transform_fine_grained_pat(ORG, sample("orgs_ORG_personal-access-tokens.json")[0], NOW)
    assert pat.kind == "pat" and pat.holder == "github:octo-org|octocat" and pat.status == "expired"
    assert pat.scopes == ["organization:members:read", "repository:metadata:read"]
    inst = transform_installation(ORG, sample("orgs_ORG_installations.json")["installations"][0])
    assert inst.kind == "app" and inst.name == "github-actions"
    sec = [transform_secret(ORG, s, "octo-org", ORG.uid) for s in sample("orgs_ORG_actions_secrets.json")["secrets"]]
    assert [s.attributes["visibility"] for s in sec] == ["private", "all", "selected"]
    assert sec[0].updated_at == datetime(2020, 1, 10, 14, 59, 22, tzinfo=UTC)


def test_time_and_key_helpers():
    assert parse_time("") is None and parse_time(None) is None and parse_time("garbage") is None
    assert parse_time("2017-05-16T08:47:09.000-07:00") == datetime(2017, 5, 16, 15, 47, 9, tzinfo=UTC)
    assert ssh_fingerprint("ssh-rsa AAA...") is None and ssh_fingerprint(None) is None
    assert ssh_fingerprint(fake_ssh_key("x")).startswith("SHA256:")


# --- the fake follows the samples ------------------------------------------------------------

@pytest.fixture(scope="module")
def fake():
    s = demo_org().start()
    yield s
    s.stop()


def get(fake, path):
    r = requests.get(fake.url + path, headers={"Authorization": f"token {DEMO_TOKEN}"}, timeout=5)
    return r


def gql(fake, op, variables=None):
    from collectors.github import client as gh
    query = {"OrgMembers": gh.Q_MEMBERS, "SamlIdentities": gh.Q_SAML}[op]
    r = requests.post(fake.url + "/graphql", json={"query": query,
                                                    "variables": {"org": "acme", "first": 100, **(variables or {})}},
                      headers={"Authorization": f"token {DEMO_TOKEN}"}, timeout=5)
    return r.json()


@needs_samples
@pytest.mark.parametrize("sample_name,path,index,envelope", [
    ("orgs_ORG_members.json", "/orgs/acme/members", 1, None),
    ("orgs_ORG_outside_collaborators.json", "/orgs/acme/outside_collaborators", 0, None),
    ("orgs_ORG_invitations.json", "/orgs/acme/invitations", 1, None),
    ("repos_OWNER_REPO_keys.json", "/repos/acme/payments/keys", 0, None),
    ("repos_OWNER_REPO_actions_secrets.json", "/repos/acme/payments/actions/secrets", 0, "secrets"),
    ("orgs_ORG_actions_secrets.json", "/orgs/acme/actions/secrets", 1, "secrets"),
    ("orgs_ORG_hooks.json", "/orgs/acme/hooks", 0, None),
    ("orgs_ORG_installations.json", "/orgs/acme/installations", 0, "installations"),
    ("orgs_ORG_credential-authorizations.json", "/orgs/acme/credential-authorizations", 0, None),
    ("users_USER_keys.json", "/users/alice-gh/keys", 0, None),
])
def test_fake_rest_payloads_have_the_sample_fields(fake, sample_name, path, index, envelope):
    want = sample(sample_name)
    got = get(fake, path).json()
    if envelope:
        assert set(got) == set(want)
        want, got = want[envelope], got[envelope]
    live = {"user_view_type"}  # on live simple-users since 2024 (SOURCES.md); docs examples omit it
    assert set(got[0]) - live == set(want[index]) - live, sample_name


@needs_samples
def test_fake_members_ssh_authorization_and_collaborators(fake):
    want = sample("orgs_ORG_credential-authorizations.json")[2]
    got = next(i for i in get(fake, "/orgs/acme/credential-authorizations").json()
               if i["credential_type"] == "SSH key")
    assert set(got) == set(want)
    want = sample("repos_OWNER_REPO_collaborators.json")[0]
    got = get(fake, "/repos/acme/payments/collaborators").json()[0]
    assert set(got) - {"user_view_type"} == set(want) and set(got["permissions"]) == set(want["permissions"])


@needs_samples
def test_fake_graphql_and_errors_follow_the_samples(fake):
    want = sample("graphql_org_membersWithRole_samlIdentityProvider.json")["data"]["organization"]
    got = gql(fake, "OrgMembers")["data"]["organization"]["membersWithRole"]
    w = want["membersWithRole"]
    assert set(got) == set(w) and set(got["pageInfo"]) == set(w["pageInfo"])
    assert set(got["edges"][0]) == set(w["edges"][0])
    assert set(got["edges"][0]["node"]) == set(w["edges"][0]["node"])
    saml = gql(fake, "SamlIdentities")["data"]["organization"]["samlIdentityProvider"]
    ws = want["samlIdentityProvider"]
    assert set(saml) == set(ws)
    unlinked = [e for e in saml["externalIdentities"]["edges"] if e["node"]["user"] is None]
    assert unlinked and set(unlinked[0]["node"]) == set(ws["externalIdentities"]["edges"][2]["node"])
    bad = requests.get(fake.url + "/orgs/acme/members", headers={"Authorization": "token nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json() == sample("error_401_bad_credentials.json")
    r = get(fake, "/orgs/acme/members?per_page=2")
    assert 'rel="next"' in r.headers["Link"] and r.headers["X-RateLimit-Limit"] == "5000"
    assert r.headers["ETag"]
    again = requests.get(fake.url + "/orgs/acme/members?per_page=2",
                         headers={"Authorization": f"token {DEMO_TOKEN}", "If-None-Match": r.headers["ETag"]},
                         timeout=5)
    assert again.status_code == 304 and again.content == b""


def test_audit_event_to_activity_and_malformed_events():
    from datetime import UTC, datetime
    from collectors.github.transform import Org, transform_audit_event
    from fixtures.fake_github import audit_event
    org = Org("acme")
    a = transform_audit_event(org, "alice-gh", audit_event(
        "git.push", "alice-gh", "2026-11-10T08:41:00Z", repo="acme/payments", transport_protocol_name="http",
        programmatic_access_type="Personal access token (classic)", token_id=161195, hashed_token="x"))
    assert (a.action, a.category, a.outcome, a.subject_account) == ("git.push", "use", "success", "github:acme|alice-gh")
    assert a.at == datetime(2026, 11, 10, 8, 41, tzinfo=UTC)
    assert a.attributes["via"] == "git" and a.attributes["token_id"] == 161195 and "hashed_token" not in a.attributes
    api = transform_audit_event(org, "alice-gh", audit_event("repo.download_zip", "alice-gh", "2026-11-10T09:00:00Z",
                                                             programmatic_access_type="OAuth access token"))
    assert api.attributes["via"] == "api"
    for bad in ({"action": "git.clone", "@timestamp": 1}, {"_document_id": "d", "action": "git.clone"},
                {"_document_id": "d", "action": "git.clone", "@timestamp": "soon"}, None):
        with pytest.raises(ValueError):
            transform_audit_event(org, "alice-gh", bad)

"""The fake Vault (fixtures/fake_vault) against the real hvac client: what the ``vault``
collector will rely on is served as Vault serves it (payload shapes of the api-samples,
LIST semantics, namespaces, capability checks, read-only enforcement).

hvac is used exactly as a collector would: ``hvac.Client(url=server.url, token=...,
namespace=...)``, default adapter (LIST as an HTTP method) unless a test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import requests

from fixtures import fake_vault as fv
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = (SAMPLES_ROOT / "vault")


@pytest.fixture
def vault():
    server = fv.start_demo()
    yield server
    server.stop()


def client(server, token=fv.DEMO_TOKEN, **kw) -> hvac.Client:
    return hvac.Client(url=server.url, token=token, **kw)


def sample(name: str):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"reference sample {name} not present")
    return json.loads(path.read_text())


def test_accessors_are_listed_and_looked_up(vault):
    c = client(vault)
    keys = c.auth.token.list_accessors()["data"]["keys"]
    assert fv.ALICE_ACCESSOR in keys and fv.ORPHAN_ACCESSOR in keys
    looked = c.auth.token.lookup_accessor(fv.ALICE_ACCESSOR)
    data = looked["data"]
    # the sample's fields, no more, no fewer (identity_policies only when granted)
    assert set(data) == set(sample("auth_token_lookup-accessor.json")["data"]) - {"identity_policies"}
    assert data["display_name"] == "oidc-alice@example.com" and data["entity_id"] == fv.ALICE_ENTITY
    assert "payments-read" in data["policies"] and data["id"] == ""  # never the token itself
    assert data["ttl"] > 0 and data["expire_time"].endswith("-04:00")  # live; server-local offset
    assert set(looked) == {"request_id", "lease_id", "renewable", "lease_duration", "data",
                           "wrap_info", "warnings", "auth"}
    orphan = c.auth.token.lookup_accessor(fv.ORPHAN_ACCESSOR)["data"]
    assert orphan["orphan"] and orphan["entity_id"] == "" and orphan["path"] == "auth/token/create-orphan"
    reader = c.auth.token.lookup_accessor(fv.READER_ACCESSOR)["data"]
    assert not reader["orphan"] and reader["entity_id"] == ""  # the near miss: a child of root
    with pytest.raises(hvac.exceptions.InvalidRequest):  # an accessor that is gone
        c.auth.token.lookup_accessor("00000000-0000-4000-8000-000000000000")
    assert vault.count("/v1/auth/token/lookup-accessor") == 4


def test_lookup_self_returns_the_token_and_strict_http_lists_the_same(vault):
    me = client(vault).auth.token.lookup_self()["data"]
    assert me["id"] == fv.DEMO_TOKEN and me["accessor"] == fv.READER_ACCESSOR
    alice = client(vault, fv.ALICE_TOKEN).auth.token.lookup_self()["data"]  # a leaked value, tied
    assert alice["accessor"] == fv.ALICE_ACCESSOR and fv.ALICE_TOKEN.startswith("hvs.")  # to its accessor
    plain = client(vault).auth.token.list_accessors()["data"]["keys"]
    strict = client(vault, strict_http=True).auth.token.list_accessors()["data"]["keys"]
    assert plain == strict
    assert {(r.method, r.query.get("list", [None])[0]) for r in vault.requests
            if r.path == "/v1/auth/token/accessors"} == {("GET", "true")}


def test_entities_keep_alias_mounts_and_disabled_flags(vault):
    c = client(vault)
    ids = c.secrets.identity.list_entities()["data"]["keys"]
    assert {fv.ALICE_ENTITY, fv.CAROL_ENTITY} <= set(ids)
    alice = c.secrets.identity.read_entity(fv.ALICE_ENTITY)["data"]
    assert set(alice) == set(sample("identity_entity_id_ID_with_alias_disabled.json")["data"])
    assert alice["disabled"] is False
    [alias] = alice["aliases"]
    assert alias["name"] == "alice@example.com" and alias["mount_type"] == "oidc"
    mounts = c.sys.list_auth_methods()["data"]
    assert mounts["oidc/"]["accessor"] == alias["mount_accessor"] and mounts["oidc/"]["type"] == "oidc"
    assert c.secrets.identity.read_entity(fv.CAROL_ENTITY)["data"]["disabled"] is True
    with pytest.raises(hvac.exceptions.InvalidPath):
        c.secrets.identity.read_entity("00000000-0000-4000-8000-00000000dead")


def test_approle_secret_id_accessors(vault):
    c = client(vault)
    assert c.auth.approle.list_roles()["data"]["keys"] == ["ci", "nightly", "residual-scanner"]
    accessors = c.auth.approle.list_secret_id_accessors("ci")["data"]["keys"]
    assert set(accessors) == {fv.CI_SECRET_NEVER, fv.CI_SECRET_ALICE}
    never = c.auth.approle.read_secret_id_accessor("ci", fv.CI_SECRET_NEVER)["data"]
    assert set(never) == set(sample("auth_approle_role_NAME_secret-id-accessor_lookup.json")["data"])
    assert never["secret_id_ttl"] == 0 and never["expiration_time"] == fv.NEVER
    by_alice = c.auth.approle.read_secret_id_accessor("ci", fv.CI_SECRET_ALICE)["data"]
    assert by_alice["metadata"] == {"created_by": "alice@example.com"} and by_alice["secret_id_ttl"] > 0
    bob = c.auth.approle.read_secret_id_accessor("nightly", fv.NIGHTLY_SECRET_BOB)["data"]
    assert bob["expiration_time"] != fv.NEVER  # the near miss expires
    assert c.auth.approle.read_role("ci")["data"]["secret_id_ttl"] == 0
    assert vault.writes == []  # the lookup is a read-only POST


def test_leases_by_prefix_and_lookup_by_put(vault):
    c = client(vault)
    assert c.sys.list_leases("database/")["data"]["keys"] == ["creds/"]  # a sub-prefix
    keys = c.sys.list_leases("database/creds/readonly/")["data"]["keys"]
    assert fv.ALICE_LEASE.rsplit("/", 1)[1] in keys
    assert fv.EXPIRED_LEASE.rsplit("/", 1)[1] not in keys  # Vault revoked it
    lease = c.sys.read_lease(fv.ALICE_LEASE)["data"]  # hvac sends PUT: served, not a write
    assert lease["id"] == fv.ALICE_LEASE and lease["ttl"] > 0 and lease["renewable"]
    assert "issued_by" not in json.dumps(lease)  # Vault does not say which token made it
    assert vault.writes == [] and any(r.method == "POST" and r.path == "/v1/sys/leases/lookup"
                                      for r in vault.requests)
    with pytest.raises(hvac.exceptions.InvalidPath):  # an empty LIST is a 404 ...
        c.sys.list_leases("aws/creds/nothing/")
    r = requests.request("LIST", f"{vault.url}/v1/sys/leases/lookup/aws/creds/nothing/",
                         headers={"X-Vault-Token": fv.DEMO_TOKEN})
    assert r.status_code == 404 and r.json() == {"errors": []}  # ... not an empty "keys"


def test_policies_and_kv_metadata_for_the_rotation_rule(vault):
    c = client(vault)
    assert "payments-read" in c.sys.list_acl_policies()["data"]["keys"]
    assert 'path "secret/data/payments/*"' in c.sys.read_acl_policy("payments-read")["data"]["policy"]
    assert c.secrets.kv.v2.list_secrets("payments")["data"]["keys"] == ["adyen", "stripe"]
    meta = c.secrets.kv.v2.read_secret_metadata("payments/stripe")["data"]
    current = meta["versions"][str(meta["current_version"])]["created_time"]
    assert current < fv.ALICE_LEFT.strftime("%Y-%m-%dT%H:%M:%SZ")  # not rotated since she left
    adyen = c.secrets.kv.v2.read_secret_metadata("payments/adyen")["data"]
    assert adyen["updated_time"] > fv.ALICE_LEFT.strftime("%Y-%m-%dT%H:%M:%SZ")  # near miss: rotated


def test_namespaces_have_separate_state(vault):
    root_keys = client(vault).auth.token.list_accessors()["data"]["keys"]
    ns = client(vault, fv.NS_TOKEN, namespace=fv.NS)
    ns_keys = ns.auth.token.list_accessors()["data"]["keys"]
    assert fv.DAVE_ACCESSOR in ns_keys and fv.DAVE_ACCESSOR not in root_keys
    assert fv.ALICE_ACCESSOR not in ns_keys
    assert ns.auth.token.lookup_accessor(fv.DAVE_ACCESSOR)["data"]["display_name"] == "ldap-dave"
    assert ns.auth.approle.list_roles()["data"]["keys"] == ["batch"]
    # a root-namespace token works in the child (its policy grants "+/..."), not the reverse
    assert client(vault, namespace=fv.NS).auth.token.list_accessors()["data"]["keys"] == ns_keys
    with pytest.raises(hvac.exceptions.Forbidden):
        client(vault, fv.NS_TOKEN).auth.token.list_accessors()
    with pytest.raises(hvac.exceptions.Forbidden):
        client(vault, namespace="no-such-namespace").auth.token.list_accessors()
    assert all(r.headers.get("x-vault-namespace") == fv.NS for r in vault.requests
               if r.path == "/v1/auth/approle/role")


def test_a_path_the_policy_lacks_is_permission_denied(vault):
    limited = client(vault, fv.LIMITED_TOKEN)
    assert limited.secrets.identity.list_entities()["data"]["keys"]  # what it may do
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.auth.token.list_accessors()
    r = requests.request("LIST", f"{vault.url}/v1/auth/token/accessors",
                         headers={"X-Vault-Token": fv.LIMITED_TOKEN})
    assert r.status_code == 403 and r.json() == sample("error_403_permission_denied.json")
    assert requests.get(f"{vault.url}/v1/sys/auth", headers={"X-Vault-Token": "hvs.wrong"}).status_code == 403
    vault.denied_body = fv.PERMISSION_DENIED_MULTIERROR  # the wording newer releases print
    r = requests.get(f"{vault.url}/v1/sys/policies/acl?list=true", headers={"X-Vault-Token": fv.LIMITED_TOKEN})
    assert r.status_code == 403 and r.json() == {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}


def test_sudo_is_needed_to_list_accessors_and_leases(vault):
    """The docs: both LISTs need sudo; a policy granting only ``list`` is denied."""
    vault.root.policies["list-only"] = 'path "auth/token/accessors" {\n    capabilities = ["list"]\n}\n'
    token = vault.root.add_token(fv.Token(
        id="hvs.list-only", accessor="11111111-2222-4333-8444-555555555555", display_name="token",
        policies=["list-only"], path="auth/token/create", issue_time=fv.DEMO_NOW, creation_ttl=3600))
    with pytest.raises(hvac.exceptions.Forbidden):
        client(vault, token.id).auth.token.list_accessors()


def test_writes_are_refused_and_recorded(vault):
    c = client(vault)
    with pytest.raises(hvac.exceptions.VaultError) as refused:
        c.auth.token.revoke_accessor(fv.ALICE_ACCESSOR)
    assert "unsupported operation" in str(refused.value)
    with pytest.raises(hvac.exceptions.VaultError):
        c.secrets.kv.v2.create_or_update_secret("payments/stripe", {"k": "v"})
    assert [(w.method, w.path) for w in vault.writes] == [  # hvac writes KV v2 with POST
        ("POST", "/v1/auth/token/revoke-accessor"), ("POST", "/v1/secret/data/payments/stripe")]
    assert fv.ALICE_ACCESSOR in c.auth.token.list_accessors()["data"]["keys"]  # nothing changed


def test_logins_hand_out_a_token_that_is_then_listed(vault):
    approle = hvac.Client(url=vault.url)
    auth = approle.auth.approle.login(fv.DEMO_ROLE_ID, fv.DEMO_SECRET_ID)["auth"]
    assert "residual-reader" in auth["policies"] and approle.is_authenticated()
    assert auth["accessor"] in approle.auth.token.list_accessors()["data"]["keys"]
    k8s = hvac.Client(url=vault.url)
    meta = k8s.auth.kubernetes.login("residual", fv.DEMO_K8S_JWT)["auth"]["metadata"]
    assert meta["service_account_name"] == "residual-scanner" and k8s.sys.list_auth_methods()["data"]
    jwt = hvac.Client(url=vault.url)
    assert jwt.auth.jwt.jwt_login("residual-ci", fv.DEMO_JWT)["auth"]["client_token"].startswith("hvs.")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=vault.url).auth.approle.login(fv.DEMO_ROLE_ID, "wrong-secret-id")
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=vault.url).auth.kubernetes.login("residual", "not.the.jwt")
    assert vault.writes == []


def test_health_and_rate_limit(vault):
    c = client(vault)
    health = c.sys.read_health_status(method="GET")
    assert set(health) == set(sample("sys_health.json")) and health["enterprise"] is True
    vault.rate_limited(r"^/v1/auth/token/lookup-accessor$", times=1, retry_after=3)
    r = requests.post(f"{vault.url}/v1/auth/token/lookup-accessor", json={"accessor": fv.ALICE_ACCESSOR},
                      headers={"X-Vault-Token": fv.DEMO_TOKEN})
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and "rate limit quota" in r.json()["errors"][0]
    assert c.auth.token.lookup_accessor(fv.ALICE_ACCESSOR)["data"]["accessor"] == fv.ALICE_ACCESSOR


def test_synthetic_vault_has_one_lookup_per_accessor():
    server = fv.synthetic_vault(2_000, leaver_every=500).start()
    try:
        c = client(server)
        keys = c.auth.token.list_accessors()["data"]["keys"]
        assert len(keys) == 2_000 + 6  # and the demo's six live root-namespace tokens
        leavers = [a for a in keys[:50] + [fv.synthetic_accessor(500)]
                   if c.auth.token.lookup_accessor(a)["data"]["entity_id"] == fv.ALICE_ENTITY]
        assert fv.synthetic_accessor(0) in leavers and fv.synthetic_accessor(500) in leavers
        assert server.count("/v1/auth/token/lookup-accessor") == 51
    finally:
        server.stop()

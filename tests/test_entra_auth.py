"""How the entra and azure collectors sign in: each credential kind of a block builds the
azure-identity credential it names (no network until a token is asked for), a certificate
block reads the tenant through the fake, and a block that names no credential fails with
the key to set. Authority hosts Microsoft does not know get no instance discovery (MSAL
would send it to login.microsoftonline.com)."""

from __future__ import annotations

import pytest
from azure import identity

from collectors.entra.auth import auth_kind, build_credential, token_roles
from fixtures.fake_microsoft import Client, FakeMicrosoft
from scanner.core.errors import ConfigError
from tests.entra_helpers import Account, EntraCollector, entra_block, run, tenant_with_clients
from tests.test_fake_microsoft import _certificate

TENANT = "8a7b5c3e-2f14-4d6a-9b1e-0c5d7e9f1a24"


@pytest.mark.parametrize("block, cls", [
    ({"client_id": "c", "client_secret": "s"}, identity.ClientSecretCredential),
    ({"auth": "managed_identity"}, identity.ManagedIdentityCredential),
    ({"auth": "azure_cli"}, identity.AzureCliCredential),
])
def test_each_kind_builds_its_credential(block, cls):
    assert isinstance(build_credential({"tenant_id": TENANT, **block}), cls)


def test_workload_identity_reads_the_federated_token_file(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("eyJ.fake.jwt")
    cred = build_credential({"tenant_id": TENANT, "auth": "workload_identity", "client_id": "c",
                             "federated_token_file": str(token)})
    assert isinstance(cred, identity.WorkloadIdentityCredential)
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    with pytest.raises(ConfigError, match="federated_token_file"):
        build_credential({"tenant_id": TENANT, "auth": "workload_identity", "client_id": "c"})


@pytest.mark.parametrize("block, key", [
    ({}, "client_secret, certificate_path"),
    ({"auth": "client_secret", "client_id": "c"}, "client_secret"),
    ({"auth": "certificate", "client_id": "c"}, "certificate_path"),
    ({"client_secret": "s"}, "client_id"),
])
def test_a_block_without_its_credential_names_the_key(block, key):
    with pytest.raises(ConfigError, match=key):
        build_credential({"tenant_id": TENANT, **block})


def test_auth_kind_is_inferred_from_what_is_given():
    assert auth_kind({"client_secret": "s"}) == "client_secret"
    assert auth_kind({"certificate_path": "p"}) == "certificate"
    assert auth_kind({"auth": "azure_cli", "client_secret": "s"}) == "azure_cli"


def test_token_roles_read_and_unreadable():
    import base64
    import json
    payload = base64.urlsafe_b64encode(json.dumps({"roles": ["User.Read.All"]}).encode()).decode().rstrip("=")
    assert token_roles(f"h.{payload}.s") == {"User.Read.All"}
    assert token_roles("not-a-jwt") is None


def test_certificate_block_reads_the_tenant(tmp_path):
    both, cert_pem = _certificate("residual-cert-client")
    client_id = "ce271f1c-0000-4000-8000-000000000004"
    t = tenant_with_clients()
    t.add_client(Client(client_id, certificate_pem=cert_pem))
    pem = tmp_path / "scanner.pem"
    pem.write_bytes(both)
    s = FakeMicrosoft(t).start()
    try:
        block = {k: v for k, v in entra_block(s).items() if k != "client_secret"}
        r = run(EntraCollector, {**block, "client_id": client_id, "certificate_path": str(pem)}, tmp=tmp_path)
        assert r.coverage(TENANT)[0].status == "ok"
        assert len([a for a in r.of(Account) if a.kind == "user"]) == 6
        assert [x for x in s.tokens.values() if x["appid"] == client_id][0]["appidacr"] == "2"
    finally:
        s.stop()

"""The vault collector: pure transforms on the reference samples, read-only enforcement
and every auth method against the fake Vault, and the max_tokens cap reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext
from collectors.vault.collector import VaultCollector
from collectors.vault import transform as tf
from fixtures import SAMPLES as ROOT_SAMPLES
from fixtures import fake_vault as fv
from scanner.config import check_block
from scanner.core.store import Inventory, Sink
from scanner.core.model import Account, Coverage, Credential
from scanner.core.secrets import Fingerprinter

SAMPLES = ROOT_SAMPLES / "vault"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
SRC = "vault:prod"


def sample(name: str):
    path = SAMPLES / name
    if not path.exists():
        raise AssertionError(f"reference sample {name} missing from fixtures/samples")
    return json.loads(path.read_text())


def test_transforms_of_the_samples():
    tok = tf.transform_token(sample("auth_token_lookup-accessor.json"), SRC, "")
    assert tok.kind == "vault_token" and tok.native_id.startswith("token:") and tok.created_at
    assert tok.attributes["accessor"] and tok.fingerprint is None  # a lookup never holds the token
    sid = tf.transform_secret_id(sample("auth_approle_role_NAME_secret-id-accessor_lookup.json"), SRC, "", "ci")
    assert sid.expires_at is None and sid.attributes["never_expires"]  # Vault's zero time
    ent = tf.transform_entity(sample("identity_entity_id_ID_with_alias_disabled.json"), SRC, "")
    assert ent.native_id.startswith("entity:") and ent.attributes["aliases"]
    with pytest.raises(ValueError):
        tf.transform_token({"data": {}}, SRC, "")
    with pytest.raises(ValueError):
        tf.transform_entity("not a dict", SRC, "")


def test_policy_capabilities_most_specific_wins_and_deny_denies():
    rules = tf.parse_policy('path "secret/data/*" { capabilities = ["read"] }\n'
                            'path "secret/data/payments/+" { capabilities = ["deny"] }\n'
                            'path "secret/data/ci/*" {\n  capabilities = ["read", "list"]\n}')
    assert tf.capabilities(rules, "secret/data/app/x") == {"read"}
    assert tf.capabilities(rules, "secret/data/payments/stripe") == set()
    assert tf.capabilities(rules, "secret/data/ci/key") == {"read", "list"}
    assert tf.capabilities(rules, "database/creds/readonly") == set()


def run(server, tmp: Path, **cfg):
    block = check_block({"url": server.url, "token": fv.DEMO_TOKEN, **cfg}, VaultCollector.options,
                        "collectors.vault[0]", tmp / "residual.yaml")
    inv = Inventory(":memory:")
    scan = inv.begin_scan("t")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp / "cache", now=NOW,
                           base_dir=tmp)
    col = VaultCollector(block, ctx)
    col.collect(sink)
    sink.flush()
    return inv, scan, col


@pytest.fixture
def vault():
    s = fv.start_demo()
    yield s
    s.stop()


READ_POSTS = {"/v1/auth/token/lookup-accessor", "/v1/sys/leases/lookup", "/v1/auth/approle/login",
              "/v1/auth/kubernetes/login", "/v1/auth/jwt/login"}


def assert_read_only(server):
    assert server.writes == []
    for r in server.requests:
        assert r.method == "GET" or r.path in READ_POSTS or r.path.endswith("/secret-id-accessor/lookup"), \
            (r.method, r.path)


@pytest.mark.parametrize("auth", ["token", "approle", "kubernetes", "jwt"])
def test_read_only_with_every_auth_method(vault, tmp_path, auth):
    cfg = {"token": {"auth_method": "token", "token": fv.DEMO_TOKEN},
           "approle": {"auth_method": "approle", "role_id": fv.DEMO_ROLE_ID, "secret_id": fv.DEMO_SECRET_ID},
           "kubernetes": {"auth_method": "kubernetes", "role": "residual", "jwt_path": "sa-token"},
           "jwt": {"auth_method": "jwt", "role": "residual-ci", "jwt": fv.DEMO_JWT, "auth_mount": "jwt"}}[auth]
    (tmp_path / "sa-token").write_text(fv.DEMO_K8S_JWT + "\n")
    inv, scan, col = run(vault, tmp_path, namespaces=[fv.NS], lease_prefixes=["database/"], **cfg)
    cov = {c.target: c for c in inv.load(Coverage, scan)}
    assert cov["vault"].status == "ok", cov["vault"].error
    creds = inv.load(Credential, scan)
    assert any(c.native_id == f"token:{fv.ALICE_ACCESSOR}" for c in creds)
    assert col.calls == len(vault.requests)  # every request counted
    assert_read_only(vault)


def test_a_refused_login_fails_the_target(vault, tmp_path):
    inv, scan, _ = run(vault, tmp_path, auth_method="approle", role_id=fv.DEMO_ROLE_ID, secret_id="wrong")
    row, = [c for c in inv.load(Coverage, scan) if c.target == "vault"]
    assert row.status == "failed" and "approle login" in row.error and "wrong" not in row.error


def test_max_tokens_is_honoured_and_reported(vault, tmp_path):
    inv, scan, _ = run(vault, tmp_path, max_tokens=2)
    row, = [c for c in inv.load(Coverage, scan) if c.target == "vault"]
    assert row.status == "partial" and "max_tokens 2" in row.error
    assert row.attributes["tokens_looked_up"] == 2 and row.attributes["tokens_not_looked_up"] == 4
    assert vault.count("/v1/auth/token/lookup-accessor") == 2
    assert len([c for c in inv.load(Credential, scan) if c.kind == "vault_token"]) == 2


def test_a_token_that_cannot_list_tokens_makes_the_namespace_partial(vault, tmp_path):
    inv, scan, _ = run(vault, tmp_path, token=fv.LIMITED_TOKEN)
    row, = [c for c in inv.load(Coverage, scan) if c.target == "vault"]
    assert row.status == "partial" and "tokens:" in row.error and "sudo" in row.error
    assert inv.load(Account, scan)  # entities were still read
    assert_read_only(vault)

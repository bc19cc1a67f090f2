"""The SSF receiver (RFC 8935 push, RFC 8417 SETs, CAEP/RISC) over a real socket: what it
accepts (202, spooled, a watch event) and what it rejects (400 with RFC 8935's error
codes): a replayed jti, a forged signature, an unknown issuer, `alg: none`/HMAC, the wrong
audience or content type."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from scanner.ssf import CAEP, RISC, SsfPushSource, Transmitter
from scanner.watch import WatchState

ISS = "https://idp.example.com"
AUD = "https://residual.example.com/ssf"


def keypair(kid: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return key, {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture(scope="module")
def keys():
    return keypair("k1"), keypair("k1")  # the transmitter's, and a forger's with the same kid


@pytest.fixture
def receiver(tmp_path, keys):
    (good, jwk), _ = keys
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    src = SsfPushSource(tmp_path / "ssf.jsonl", [Transmitter(ISS, str(tmp_path / "jwks.json"))], audience=AUD)
    url = src.serve()
    yield src, url
    src.stop()


def make_set(key, event=RISC + "account-disabled", iss=ISS, aud=AUD, jti=None, alg="RS256", **body):
    claims = {"iss": iss, "aud": aud, "iat": int(time.time()), "jti": jti or uuid.uuid4().hex,
              "sub_id": {"format": "email", "email": "alice@example.com"},
              "events": {event: {"reason": "hijacking", **body}}}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", "typ": "secevent+jwt"})


def push(url, token, ctype="application/secevent+jwt"):
    return requests.post(url, data=token, headers={"Content-Type": ctype, "Accept": "application/json"}, timeout=10)


def test_a_signed_set_is_acknowledged_spooled_and_becomes_an_event(receiver, keys):
    src, url = receiver
    (good, _), _ = keys
    r = push(url, make_set(good, jti="set-1"))
    assert r.status_code == 202 and r.content == b""
    r = push(url, make_set(good, event=CAEP + "session-revoked", jti="set-2"))
    assert r.status_code == 202
    events = src.poll(WatchState())
    assert [(e.identity, e.change) for e in events] == [("alice@example.com", "suspended"),
                                                       ("alice@example.com", "session-revoked")]
    assert events[0].id == f"ssf:{ISS}:set-1:account-disabled"
    assert src.spool.stat().st_mode & 0o777 == 0o600


def test_a_replayed_set_is_rejected_even_after_a_restart(receiver, keys, tmp_path):
    src, url = receiver
    (good, _), _ = keys
    token = make_set(good, jti="set-once")
    assert push(url, token).status_code == 202
    again = push(url, token)
    assert again.status_code == 400 and again.json()["err"] == "invalid_request"
    assert "replayed" in again.json()["description"]
    restarted = SsfPushSource(src.spool, list(src.transmitters.values()), audience=AUD)
    assert restarted.accept({"content-type": "application/secevent+jwt"}, token.encode())[0] == 400
    assert len(src.poll(WatchState())) == 1


@pytest.mark.parametrize("case,err", [
    ("forged", "invalid_key"), ("unknown_issuer", "invalid_issuer"), ("alg_none", "invalid_key"),
    ("hmac", "invalid_key"), ("audience", "invalid_audience"), ("content_type", "invalid_request"),
    ("not_a_jwt", "invalid_request"), ("no_jti", "invalid_request"),
])
def test_what_is_rejected_and_with_which_error(receiver, keys, case, err):
    src, url = receiver
    (good, jwk), (forger, _) = keys
    ctype = "application/secevent+jwt"
    if case == "forged":
        token = make_set(forger)
    elif case == "unknown_issuer":
        token = make_set(good, iss="https://evil.example.com")
    elif case == "alg_none":
        token = make_set(None, alg="none")
    elif case == "hmac":  # a symmetric algorithm: only the transmitter's asymmetric keys count
        token = make_set(b"a-shared-secret-that-is-not-the-transmitters-key", alg="HS256")
    elif case == "audience":
        token = make_set(good, aud="https://someone-else.example.com")
    elif case == "content_type":
        token, ctype = make_set(good), "application/json"
    elif case == "not_a_jwt":
        token = "hello"
    else:
        token = jwt.encode({"iss": ISS, "aud": AUD, "iat": int(time.time()),
                            "events": {RISC + "account-disabled": {}}}, good, algorithm="RS256",
                           headers={"kid": "k1"})
    r = push(url, token, ctype)
    assert r.status_code == 400 and r.json()["err"] == err, r.text
    assert src.poll(WatchState()) == [] and not src.spool.exists()


def test_the_near_miss_an_unrelated_event_type_is_acknowledged_but_no_event(receiver, keys):
    src, url = receiver
    (good, _), _ = keys
    assert push(url, make_set(good, event=CAEP + "token-claims-change")).status_code == 202
    assert src.poll(WatchState()) == []

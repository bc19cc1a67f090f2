"""An OpenID Shared Signals (SSF) receiver: CAEP and RISC events pushed to `residual watch`.

Why: an IdP that speaks SSF (Okta, Entra, Google, SGNL...) tells its receivers the moment
an account is disabled or its sessions are revoked, instead of waiting for a poll. Each
event is a Security Event Token (SET, RFC 8417: a signed JWT) POSTed to us (push
delivery, RFC 8935):

- the request must be ``Content-Type: application/secevent+jwt``;
- the SET's ``iss`` must be a configured transmitter, its signature must verify against
  that transmitter's JWKS (PyJWT; asymmetric algorithms only, never ``none`` or HMAC),
  its ``aud`` must name us when an audience is configured;
- its ``jti`` must be new: a replayed SET is rejected (the ids seen are kept in the spool);
- accepted: written to a spool (flushed and fsynced) *before* answering ``202 Accepted``,
  so an acknowledged event is never lost; refused: ``400`` with RFC 8935's error body
  ``{"err": "invalid_request" | "invalid_key" | "invalid_issuer" | "invalid_audience",
  "description": "..."}``.

``poll`` reads the spool from its cursor and turns each event into a watch ``Event``:
RISC ``account-disabled`` -> ``suspended`` (the sessions get revoked with
``--revoke-sessions``), CAEP ``session-revoked`` and ``credential-change`` -> a targeted
verify of the person (their status is left to the roster).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from scanner.core.timeparse import json_default
from scanner.watch import Event, WatchState

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
CHANGES = {RISC + "account-disabled": "suspended", RISC + "account-purged": "terminated",
           CAEP + "session-revoked": "session-revoked", CAEP + "credential-change": "credential-change"}
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
SET_TYPE = "application/secevent+jwt"


@dataclass
class Transmitter:
    """A trusted issuer and where its keys are: a JWKS URL (fetched and cached by PyJWT)
    or a JWKS file."""

    issuer: str
    jwks: str

    def key_for(self, token: str) -> Any:
        if self.jwks.startswith(("https://", "http://")):
            return jwt.PyJWKClient(self.jwks, cache_keys=True, timeout=10).get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        keys = jwt.PyJWKSet.from_json(Path(self.jwks).read_text(encoding="utf-8")).keys
        for k in keys:
            if kid is None or k.key_id == kid:
                return k.key
        raise jwt.PyJWKClientError(f"no key {kid!r} in the transmitter's JWKS")


class SetRejected(Exception):
    def __init__(self, err: str, description: str):
        super().__init__(description)
        self.err, self.description = err, description


def subject_of(claims: dict[str, Any], event: Any) -> str | None:
    """Who the event is about: the SET's ``sub_id`` (SSF 1.0), else the event's
    ``subject`` (CAEP/RISC drafts); an e-mail, a phone, an ``iss_sub`` pair's ``sub`` or an
    opaque id."""
    for sub in (claims.get("sub_id"), event.get("subject") if isinstance(event, dict) else None):
        if not isinstance(sub, dict):
            continue
        if sub.get("format") == "complex":  # {"user": {...}, "session": {...}}
            sub = sub.get("user") if isinstance(sub.get("user"), dict) else {}
        for key in ("email", "sub", "id", "phone_number", "uri"):
            if isinstance(sub.get(key), str) and sub[key]:
                return sub[key]
    return claims.get("sub") if isinstance(claims.get("sub"), str) else None


class SsfPushSource:
    """The receiver and the watch source over its spool."""

    name = "ssf"

    def __init__(self, spool: Path, transmitters: list[Transmitter], audience: str | None = None):
        self.spool = spool
        self.transmitters = {t.issuer: t for t in transmitters}
        self.audience = audience
        self.pending_cursor: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._server: Any = None
        self.seen: set[str] = set()
        if spool.exists():
            for line in spool.read_bytes().splitlines():
                try:
                    self.seen.add(f"{json.loads(line)['iss']}|{json.loads(line)['jti']}")
                except (ValueError, KeyError, TypeError):
                    continue

    # -- receiving (RFC 8935) ----------------------------------------------------------
    def verified_claims(self, token: str) -> dict[str, Any]:
        """The SET's claims, or SetRejected with RFC 8935's error code."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise SetRejected("invalid_request", "not a JWT") from None
        transmitter = self.transmitters.get(str(unverified.get("iss")))
        if transmitter is None:
            raise SetRejected("invalid_issuer", "unknown issuer")
        try:
            key = transmitter.key_for(token)
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, issuer=transmitter.issuer,
                                audience=self.audience, options={
                                    "require": ["iss", "jti", "iat", "events"], "verify_aud": bool(self.audience)})
        except jwt.InvalidAudienceError:
            raise SetRejected("invalid_audience", "the SET is not for this receiver") from None
        except jwt.MissingRequiredClaimError as exc:
            raise SetRejected("invalid_request", f"missing claim {exc.claim}") from None
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.PyJWKClientError,
                jwt.InvalidKeyError, ValueError, OSError):
            raise SetRejected("invalid_key", "the signature does not verify with the issuer's keys") from None
        except jwt.InvalidTokenError as exc:
            raise SetRejected("invalid_request", exc.__class__.__name__) from None
        if not isinstance(claims.get("events"), dict) or not claims["events"]:
            raise SetRejected("invalid_request", "no events")
        return claims

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None]:
        """One push: (202, None) once spooled, or (400, RFC 8935 error body)."""
        ctype = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if ctype != SET_TYPE:
            return 400, {"err": "invalid_request", "description": f"Content-Type must be {SET_TYPE}"}
        try:
            claims = self.verified_claims(body.decode("ascii").strip())
        except UnicodeDecodeError:
            return 400, {"err": "invalid_request", "description": "not a JWT"}
        except SetRejected as exc:
            return 400, {"err": exc.err, "description": exc.description}
        key = f"{claims['iss']}|{claims['jti']}"
        with self._lock:
            if key in self.seen:
                return 400, {"err": "invalid_request", "description": "replayed SET (jti already received)"}
            entry = {"iss": claims["iss"], "jti": claims["jti"], "iat": claims.get("iat"),
                     "sub_id": claims.get("sub_id"), "sub": claims.get("sub"), "events": claims["events"]}
            fd = os.open(self.spool, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)  # names people
            with os.fdopen(fd, "ab") as fh:
                fh.write(json.dumps(entry, separators=(",", ":"), default=json_default).encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.seen.add(key)
        return 202, None

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the receiver in a thread; returns its URL (put it behind TLS)."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        source = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                return

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                status, body = source.accept({k.lower(): v for k, v in self.headers.items()},
                                             self.rfile.read(length))
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        h, p = self._server.server_address[:2]
        return f"http://{h}:{p}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the watch source ----------------------------------------------------------------
    def poll(self, state: WatchState) -> list[Event]:
        offset = int((state.cursors.get(self.name) or {}).get("offset", 0))
        if not self.spool.exists():
            return []
        with open(self.spool, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        complete = data[:data.rfind(b"\n") + 1]
        events = []
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            for uri, body in sorted((entry.get("events") or {}).items()):
                change = CHANGES.get(uri)
                who = subject_of(entry, body)
                if change and who:
                    when = (body or {}).get("event_timestamp") if isinstance(body, dict) else None
                    at = str(when or entry.get("iat") or "")
                    if at.isdigit():  # epoch seconds, as SETs carry them
                        at = datetime.fromtimestamp(int(at), UTC).isoformat()
                    events.append(Event(f"ssf:{entry['iss']}:{entry['jti']}:{uri.rsplit('/', 1)[-1]}",
                                        self.name, who, change, at))
        self.pending_cursor = {"offset": offset + len(complete)}
        return events

    def commit(self, state: WatchState) -> None:
        if self.pending_cursor:
            state.cursors[self.name] = self.pending_cursor

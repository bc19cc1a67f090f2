"""The Vault client: hvac over a requests session that counts every request, retries
429/5xx/connection errors with the project's one retry loop, and never follows a
redirect (a redirect could carry the token to another origin).

Read-only by construction: the collector calls only hvac's list/read/lookup methods
(HTTP LIST/GET, and the POST lookups Vault defines as reads: ``lookup-accessor``,
``secret-id-accessor/lookup``, ``sys/leases/lookup``) and a login when the auth method
is not a token. tests/test_vault_collector.py checks it against the fake.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import hvac
import hvac.exceptions
import requests

from scanner.core import http
from scanner.core.errors import CollectorError

AUTH_METHODS = ("token", "approle", "kubernetes", "jwt")


class VaultError(CollectorError):
    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class CountingSession(requests.Session):
    """A requests session whose every request is counted (``on_call``) and retried by
    ``collectors.http.send_with_retries``; redirects are refused."""

    def __init__(self, on_call: Callable[[], None], max_retries: int):
        super().__init__()
        self.on_call = on_call
        self.max_retries = max_retries

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs["allow_redirects"] = False

        def send() -> requests.Response:
            self.on_call()
            return super(CountingSession, self).request(method, url, *args, **kwargs)

        return http.send_with_retries(send, self.max_retries)


def status_of(exc: BaseException) -> int:
    """The HTTP status behind an hvac exception (0 when there was no answer)."""
    table = {hvac.exceptions.InvalidRequest: 400, hvac.exceptions.Unauthorized: 401,
             hvac.exceptions.Forbidden: 403, hvac.exceptions.InvalidPath: 404,
             hvac.exceptions.UnsupportedOperation: 405, hvac.exceptions.RateLimitExceeded: 429,
             hvac.exceptions.InternalServerError: 500, hvac.exceptions.VaultNotInitialized: 501,
             hvac.exceptions.BadGateway: 502, hvac.exceptions.VaultDown: 503}
    for cls, code in table.items():
        if isinstance(exc, cls):
            return code
    return 0


def describe(exc: BaseException, what: str) -> VaultError:
    """A VaultError naming the request and Vault's own message (never the token)."""
    status = status_of(exc)
    if isinstance(exc, requests.RequestException):
        return VaultError(f"{what}: {exc.__class__.__name__}", 0)
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e).replace("\n", " ").replace("\t", "").strip() for e in errors) \
        if isinstance(errors, list) and errors else str(exc).splitlines()[0] if str(exc) else ""
    return VaultError(f"{what}: HTTP {status or '?'}" + (f" {text[:200]}" if text else ""), status)


class VaultClients:
    """One hvac client per (thread, namespace), all with the same token.

    Why per thread: token lookups run at bounded concurrency and a requests session is
    not meant to be shared across threads. The token is obtained once (a login for
    AppRole/Kubernetes/JWT, in the login namespace) and reused."""

    def __init__(self, url: str, config: dict[str, Any], *, timeout: float, max_retries: int,
                 on_call: Callable[[], None], base_dir: Path):
        self.url = url.rstrip("/")
        self.config = config
        self.timeout = timeout
        self.max_retries = max_retries
        self.on_call = on_call
        self.base_dir = base_dir
        self.verify: Any = config.get("ca_cert") or config.get("tls_verify", True)
        self._token: str | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    def _raw(self, namespace: str, token: str | None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, namespace=namespace or None,
                           timeout=self.timeout, verify=self.verify,
                           allow_redirects=False,
                           session=CountingSession(self.on_call, self.max_retries))

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._login()
            return self._token

    def _login(self) -> str:
        c = self.config
        method = c.get("auth_method") or "token"
        if method == "token":
            if not c.get("token"):
                raise VaultError("auth_method token: no token configured")
            return str(c["token"])
        client = self._raw(c.get("auth_namespace") or "", None)
        mount = c.get("auth_mount") or method
        try:
            if method == "approle":
                resp = client.auth.approle.login(c.get("role_id"), c.get("secret_id"), use_token=False,
                                                 mount_point=mount)
            else:
                jwt = c.get("jwt") or self._jwt_file(c.get("jwt_path"))
                if method == "kubernetes":
                    resp = client.auth.kubernetes.login(c.get("role"), jwt, use_token=False, mount_point=mount)
                else:
                    resp = client.auth.jwt.jwt_login(c.get("role"), jwt, use_token=False, path=mount)
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            raise describe(exc, f"{method} login") from None
        token = ((resp or {}).get("auth") or {}).get("client_token")
        if not token:
            raise VaultError(f"{method} login: Vault returned no token")
        return str(token)

    def _jwt_file(self, path: str | None) -> str:
        """The JWT from a file (the pod's service-account token, a CI OIDC token)."""
        p = Path(path or "/var/run/secrets/kubernetes.io/serviceaccount/token")
        p = p if p.is_absolute() else self.base_dir / p
        try:
            return p.read_text().strip()
        except OSError as exc:
            raise VaultError(f"jwt_path: cannot read {p.name}: {exc.__class__.__name__}") from None

    def get(self, namespace: str) -> hvac.Client:
        cache = getattr(self._local, "clients", None)
        if cache is None:
            cache = self._local.clients = {}
        if namespace not in cache:
            cache[namespace] = self._raw(namespace, self.token())
        return cache[namespace]


def call(fn: Callable[[], Any], what: str, *, missing_ok: bool = False) -> Any:
    """Run one hvac call; a 404 is None when ``missing_ok`` (Vault answers an empty
    LIST with 404), any other error a VaultError naming ``what``."""
    try:
        return fn()
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        if missing_ok and status_of(exc) == 404:
            return None
        raise describe(exc, what) from None


def keys(resp: Any) -> list[str]:
    """The ``data.keys`` of a LIST answer ([] for a 404, which ``call`` gives as None).
    Any other shape (a body that is not JSON, which hvac hands back as the raw
    response, or JSON of the wrong shape) is a malformed answer, never an empty list."""
    if resp is None:
        return []
    data = resp.get("data") if isinstance(resp, dict) else None
    out = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(out, list):
        raise VaultError("LIST: malformed answer (not the expected JSON)")
    return [str(k) for k in out]

"""The one Google API client both Google sources use (``google_workspace`` and ``gcp``).

Why a module of its own: Workspace and Cloud talk to Google the same way
(google-auth credentials, google-api-python-client services, ``nextPageToken`` paging,
Google's JSON errors), and the project keeps one copy of each retry and paging helper.

- credentials: a service-account key file (``credentials_file``) or Application Default
  Credentials (``google.auth.default``), always scoped by us (the library would otherwise
  ask for every scope of an API, write scopes included); ``subject`` adds domain-wide
  delegation. A token the token endpoint refuses (``unauthorized_client``: a scope not
  delegated) is retried scope by scope once, so the parts whose scope *was* delegated
  still run and the missing scope is named (``missing_scopes``);
- requests: ``execute(request, what)`` counts one call, runs it with the library's own
  retries off (``num_retries=0``) inside ``scanner.core.http.send_with_retries``, the
  project's one retry loop: 429, 5xx and 403 ``rateLimitExceeded`` are backed off;
- errors: ``GoogleApiError`` with the status, Google's reason, whether it is a missing
  scope / privilege / IAM permission / disabled service, and a message that carries no
  token or URL query string;
- paging: ``pages(make, key, what)`` follows ``nextPageToken`` within
  ``CollectorContext.max_pages``, refusing a token that repeats.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import google.auth
import google_auth_httplib2
import httplib2
import requests
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError, RefreshError, TransportError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

import scanner.core.http as http
from scanner.core.errors import CollectorError, safe_error
from scanner.core.http import bounded_pages

AUTH = "https://www.googleapis.com/auth/"
# httplib2 retries a failed connection on its own; send_with_retries is the one retry loop
httplib2.RETRIES = 1
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


class GoogleApiError(CollectorError):
    """One refused or failed Google call. ``kind``: ``scope`` (the token lacks a scope),
    ``privilege`` (the Workspace admin lacks a privilege, or there is no delegation),
    ``permission`` (an IAM permission), ``disabled`` (the API is not enabled in the
    caller's project), ``not_found``, ``rate``, ``auth`` (credentials refused), ``other``."""

    def __init__(self, message: str, status: int = 0, reason: str = "", kind: str = "other",
                 scopes: tuple[str, ...] = ()):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.kind = kind
        self.scopes = scopes  # the scopes that would do, when Google names them

    @property
    def skippable(self) -> bool:
        """Refusals a read-only principal can meet on one part while the rest works."""
        return self.kind in ("scope", "privilege", "permission", "disabled")


@dataclass
class _Answer:
    """A call's outcome in the shape ``send_with_retries`` reads (status, headers)."""
    status_code: int
    headers: dict[str, str]
    body: Any = None
    error: HttpError | None = None


def _error_of(exc: HttpError, what: str) -> GoogleApiError:
    status = int(getattr(exc.resp, "status", 0) or 0)
    try:
        body = json.loads(exc.content or b"{}")
    except (ValueError, TypeError):
        body = {}
    err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    message = str(err.get("message") or "")[:200]
    reasons = [str(e.get("reason")) for e in err.get("errors") or [] if isinstance(e, dict)]
    reasons += [str(d.get("reason")) for d in err.get("details") or [] if isinstance(d, dict) and d.get("reason")]
    header = str(exc.resp.get("www-authenticate", "")) if hasattr(exc.resp, "get") else ""
    wanted = tuple(re.search(r'scope="([^"]*)"', header).group(1).split()) \
        if 'scope="' in header else ()
    if status == 429 or RATE_REASONS & set(reasons):
        kind = "rate"
    elif status == 401:
        kind = "auth"
    elif status == 403 and ("insufficient_scope" in header or "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in reasons
                            or "insufficientPermissions" in reasons):
        kind = "scope"
    elif status == 403 and "SERVICE_DISABLED" in reasons:
        kind = "disabled"
    elif status == 403 and err.get("status") == "PERMISSION_DENIED":
        kind = "permission"
    elif status == 403:
        kind = "privilege"  # the Directory's "Not Authorized to access this resource/api"
    elif status == 404:
        kind = "not_found"
    else:
        kind = "other"
    reason = next((r for r in reasons if r), str(err.get("status") or ""))
    text = f"{what}: HTTP {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
    return GoogleApiError(safe_error(Exception(text)).split(": ", 1)[-1], status, reason, kind, wanted)


@dataclass
class GoogleClient:
    """Scoped credentials, one service object per API, counted and retried calls."""

    scopes: list[str]
    credentials_file: str | None = None
    subject: str | None = None
    endpoint: str | None = None  # api_endpoint override (tests, private endpoints)
    timeout: float = 30.0
    max_retries: int = 4
    max_pages: int = 10_000
    on_call: Callable[[], None] = lambda: None
    missing_scopes: set[str] = field(default_factory=set)
    _creds: Any = None
    _services: dict[tuple[str, str], Any] = field(default_factory=dict)

    # --- credentials ----------------------------------------------------------------
    def _make(self, scopes: list[str]) -> Any:
        try:
            if self.credentials_file:
                creds = service_account.Credentials.from_service_account_file(
                    self.credentials_file, scopes=scopes)
            else:
                creds, _ = google.auth.default(scopes=scopes)
        except (DefaultCredentialsError, ValueError, OSError) as exc:
            raise GoogleApiError(f"credentials: {exc.__class__.__name__}: cannot read the "
                                 "key file or Application Default Credentials", kind="auth") from None
        if self.subject:
            if not hasattr(creds, "with_subject"):
                raise GoogleApiError("credentials: domain-wide delegation (subject) needs a "
                                     "service-account key", kind="auth")
            creds = creds.with_subject(self.subject)
        return creds

    def _refresh(self, creds: Any) -> None:
        session = requests.Session()
        self.on_call()  # the token request is a request too
        creds.refresh(AuthRequest(session))

    def credentials(self) -> Any:
        """Credentials with every scope the token endpoint grants. A refusal of the whole
        set (one scope not delegated) is retried scope by scope, once, to name it."""
        if self._creds is not None:
            return self._creds
        creds = self._make(self.scopes)
        try:
            self._refresh(creds)
        except RefreshError as exc:
            if not self.subject or len(self.scopes) < 2 or "unauthorized_client" not in str(exc):
                raise GoogleApiError(f"credentials refused by the token endpoint: {_refresh_reason(exc)}",
                                     401, "token", kind="auth") from None
            granted = []
            for s in self.scopes:
                try:
                    self._refresh(self._make([s]))
                    granted.append(s)
                except RefreshError:
                    self.missing_scopes.add(s)
            if not granted:
                raise GoogleApiError(f"credentials refused by the token endpoint: {_refresh_reason(exc)} "
                                     f"(no scope of {', '.join(self.scopes)} is delegated)", 401, "token",
                                     kind="auth") from None
            creds = self._make(granted)
            self._refresh(creds)
        except TransportError as exc:
            raise GoogleApiError(f"token endpoint unreachable: {_refresh_reason(exc)}") from None
        except GoogleAuthError as exc:
            raise GoogleApiError(f"credentials refused: {exc.__class__.__name__}", 401, "token", kind="auth") from None
        except requests.RequestException as exc:
            raise GoogleApiError(f"token endpoint: {exc.__class__.__name__}") from None
        self._creds = creds
        return creds

    def has_scope(self, scope: str) -> bool:
        self.credentials()
        return scope not in self.missing_scopes

    # --- services -------------------------------------------------------------------
    def service(self, api: str, version: str) -> Any:
        key = (api, version)
        if key not in self._services:
            http = google_auth_httplib2.AuthorizedHttp(self.credentials(),
                                                       http=httplib2.Http(timeout=self.timeout))
            opts = {"api_endpoint": self.endpoint} if self.endpoint else None
            self._services[key] = build(api, version, http=http, static_discovery=True,
                                        cache_discovery=False, client_options=opts)
        return self._services[key]

    # --- calls ----------------------------------------------------------------------
    def execute(self, request: Any, what: str) -> dict[str, Any]:
        """One counted call, retried on 429/5xx/403 rateLimitExceeded and connection
        errors; a refusal raises GoogleApiError; an answer that is not a JSON object
        (cut off) raises too, so nothing half-read passes for an empty list."""

        def send() -> _Answer:
            self.on_call()
            try:
                return _Answer(200, {}, request.execute(num_retries=0))
            except HttpError as exc:
                err = _error_of(exc, what)
                status = 429 if err.kind == "rate" else err.status
                after = exc.resp.get("retry-after") if hasattr(exc.resp, "get") else None
                return _Answer(status, {"Retry-After": after} if after else {}, None, exc)
            except (socket.timeout, TimeoutError, ConnectionError, OSError, httplib2.HttpLib2Error) as exc:
                raise requests.ConnectionError(exc.__class__.__name__) from None

        try:
            answer = http.send_with_retries(send, self.max_retries)
        except requests.RequestException as exc:
            raise GoogleApiError(f"{what}: {exc}") from None
        if answer.error is not None:
            raise _error_of(answer.error, what)
        if answer.body in (None, b"", ""):
            return {}
        if not isinstance(answer.body, dict):
            raise GoogleApiError(f"{what}: the answer is not JSON (cut off?) or not an object")
        return answer.body

    def pages(self, make: Callable[[str | None], Any], key: str, what: str) -> Iterator[dict[str, Any]]:
        """Every item under ``key`` of a listing, page by page (``make(page_token)``
        builds the request for one page)."""
        token: str | None = None
        seen: set[str] = set()
        for _ in bounded_pages(self.max_pages, what):
            body = self.execute(make(token), what)
            items = body.get(key) or []
            if not isinstance(items, list):
                raise GoogleApiError(f"{what}: '{key}' is not a list")
            yield from items
            token = body.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise GoogleApiError(f"{what}: the next page token repeats itself")
            seen.add(token)


def key_file(block: dict[str, Any], base_dir: Path) -> str | None:
    """The block's ``credentials_file``, relative to the config's directory; None: ADC."""
    raw = block.get("credentials_file")
    if not raw:
        return None
    p = Path(raw).expanduser()
    return str(p if p.is_absolute() else Path(base_dir) / p)


def _refresh_reason(exc: RefreshError) -> str:
    """``unauthorized_client: Client is unauthorized...`` from a RefreshError, no secrets."""
    text = str(exc.args[0] if exc.args else exc)
    return safe_error(Exception(text)).split(": ", 1)[-1][:200]

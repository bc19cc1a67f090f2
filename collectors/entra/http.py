"""A read-only client for Microsoft's JSON APIs (Graph v1.0 and Azure Resource Manager).

Why plain requests and not msgraph-sdk: the collector needs a dozen GET listings with
``$select``, ``$filter`` and ``$expand``, plus ``$batch``; the SDK's generated request
builders would add a large dependency and async plumbing for no fewer lines here.

- bearer tokens from an azure-identity credential (MSAL caches them, so asking per
  request is free);
- retries through the project's one loop (``scanner.core.http.send_with_retries``):
  connection errors, 429 and 5xx, honouring ``Retry-After``; every attempt is counted;
- paging follows ``@odata.nextLink`` (Graph) or ``nextLink`` (ARM), bounded by the
  configured ``max_pages``; a next link to another origin is refused, never followed
  (the bearer token must not travel there); redirects are not followed at all;
- ``$batch``: up to 20 GET requests in one HTTP request; items answered 429/5xx are sent
  again (bounded), the rest come back per item;
- errors carry the HTTP status and Microsoft's error code, so that a permission or
  licence refusal can be told from an outage (``GraphError.refusal``).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import requests

from scanner.core import http as net
from scanner.core.errors import CollectorError, PaginationLimit

BATCH_LIMIT = 20
RETRY_AFTER_CAP = 60.0

# 403 codes that mean "this app or this tenant may not read that", not "something broke":
# the part is skipped with the reason (the missing permission or licence)
REFUSAL_CODES = {
    "Authorization_RequestDenied": "the app lacks the application permission",
    "Authentication_MSGraphPermissionMissing": "the app lacks AuditLog.Read.All",
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant": "the tenant has no Entra ID P1/P2 licence",
    "AuthorizationFailed": "Azure RBAC does not let the app read it",
    "Forbidden": "forbidden",
}


class GraphError(CollectorError):
    def __init__(self, message: str, status: int = 0, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def refusal(self) -> str | None:
        """Why the API refused (permission or licence), or None for any other failure."""
        if self.status != 403:
            return None
        return REFUSAL_CODES.get(self.code or "", "forbidden")


def _path(url: str) -> str:
    return urlparse(url).path or "/"


def error_of(status: int, body: Any) -> tuple[str | None, str]:
    """(code, message) of a Graph or ARM error body ``{"error": {"code", "message"}}``."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, ""
    return (str(err.get("code")) if err.get("code") else None,
            re.sub(r"\s+", " ", str(err.get("message") or ""))[:200])


def describe_error(method: str, url: str, status: int, body: Any) -> GraphError:
    code, message = error_of(status, body)
    reason = requests.status_codes._codes.get(status, ("",))[0].replace("_", " ").title()
    text = f"{method} {_path(url)}: HTTP {status}" + (f" {reason}" if reason else "") + \
        (f" {code}" if code else "") + (f": {message}" if message else "")
    return GraphError(text, status, code)


class MicrosoftClient:
    """GET (and GET-only ``$batch``) against one API root, with one credential."""

    def __init__(self, base_url: str, credential: Any, scope: str, *, timeout: float = 30.0,
                 max_retries: int = 4, max_pages: int = 10_000, verify: str | bool = True,
                 on_call: Callable[[], None] = lambda: None, next_key: str = "@odata.nextLink",
                 api_version: str | None = None, writes: tuple[str, ...] = ()):
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.scope = scope
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_pages = max_pages
        self.on_call = on_call
        self.next_key = next_key
        self.api_version = api_version
        self.writes = writes  # path patterns this client may write to (the revoker's only)
        # the token stays on Graph's (or ARM's) origin, and every answer is read capped
        self.session = net.OriginBoundSession(self.base_url, "graph")
        self.verify = verify  # per request: REQUESTS_CA_BUNDLE would override a session's
        self.session.headers["Accept"] = "application/json"
        self.waited: list[float] = []
        self._token: str | None = None

    # --- auth ------------------------------------------------------------------------------
    def token(self) -> str:
        from azure.core.exceptions import AzureError  # deferred with azure-identity (auth.py)
        try:
            return self.credential.get_token(self.scope).token
        except AzureError as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise GraphError(f"sign-in for {self.scope}: the credential was refused or the "
                             f"authority could not be reached ({exc.__class__.__name__}: {first[:200]})"
                             ) from None
        except ValueError as exc:  # a certificate file that is not PEM, a bad tenant id
            raise GraphError(f"sign-in for {self.scope}: credential error: {exc}") from None

    # --- one request ---------------------------------------------------------------------------
    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if net.origin(path_or_url) != net.origin(self.base_url):
                raise GraphError(f"refused to follow a link to another origin "
                                 f"({urlparse(path_or_url).hostname})")
            return path_or_url
        return f"{self.base_url}{path_or_url}"

    def _wait(self, seconds: float) -> None:
        self.waited.append(seconds)
        net.sleep(seconds)

    def _may_send(self, method: str, url: str, body: Any) -> bool:
        """GET; a ``$batch`` of GETs; or a write this client was made for (the revoker)."""
        if method == "GET":
            return True
        if method == "POST" and _path(url).endswith("/$batch") and isinstance(body, dict):
            inner = body.get("requests")
            return bool(inner) and all(isinstance(r, dict) and r.get("method") == "GET" for r in inner)
        return any(re.search(w, _path(url)) for w in self.writes)

    def send(self, method: str, url: str, params: dict[str, Any] | None = None,
             body: Any = None) -> requests.Response:
        url = self._url(url)
        if not self._may_send(method, url, body):
            raise GraphError(f"{method} {_path(url)}: refused, this client only reads")
        if self.api_version and "api-version=" not in url:
            params = {**(params or {}), "api-version": self.api_version}
        headers = {"Authorization": f"Bearer {self.token()}"}

        def attempt() -> requests.Response:
            self.on_call()
            return self.session.request(method, url, params=params, json=body, headers=headers,
                                        timeout=self.timeout, allow_redirects=False,
                                        verify=self.verify)

        def wait_for(resp: requests.Response, backoff: float) -> float:
            return net.retry_after_seconds(resp.headers.get("Retry-After"), backoff, RETRY_AFTER_CAP)

        try:
            resp = net.send_with_retries(attempt, self.max_retries, wait=self._wait, wait_for=wait_for)
        except requests.RequestException as exc:
            raise GraphError(f"{method} {_path(url)}: {exc.__class__.__name__} "
                             "(connection failed or timed out)") from None
        if resp.status_code >= 300:
            raise describe_error(method, url, resp.status_code, _json_or_none(resp))
        return resp

    def json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.send("GET", url, params)
        try:
            body = resp.json()
        except ValueError:
            raise GraphError(f"GET {_path(resp.url)}: the answer is not JSON (malformed)",
                             resp.status_code) from None
        if not isinstance(body, dict):
            raise GraphError(f"GET {_path(resp.url)}: expected a JSON object, got {type(body).__name__}",
                             resp.status_code)
        return body

    # --- listings ----------------------------------------------------------------------------
    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Each page's ``value`` of a listing, following next links to the end."""
        url: str | None = path
        seen: set[str] = set()
        try:
            for _ in net.bounded_pages(self.max_pages, f"GET {path}"):
                body = self.json(url, params)
                params = None  # the next link carries the query
                yield page_items(body, path)
                url = body.get(self.next_key)
                if not url:
                    return
                if url in seen:
                    raise GraphError(f"GET {path}: the next page link repeats itself")
                seen.add(url)
        except PaginationLimit as exc:
            raise GraphError(f"{exc} (the listing did not end)") from None

    def items(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        for page in self.pages(path, params):
            yield from page

    # --- $batch ----------------------------------------------------------------------------------
    def batch(self, requests_: list[tuple[str, str]]) -> dict[str, tuple[int, Any]]:
        """GET each ``(id, relative url)``, 20 to a ``$batch``; returns id -> (status, body).
        Items throttled or failing with 5xx are sent again in a later batch (bounded by
        ``max_retries``, honouring the longest ``Retry-After``); a next link in an item's
        answer is followed with plain GETs, so each id maps to its complete listing
        (``{"value": [...]}``) or to its error body."""
        out: dict[str, tuple[int, Any]] = {}
        todo = list(requests_)
        delays = net.backoff_delays(self.max_retries)
        while todo:
            again: list[tuple[str, str]] = []
            wait = 0.0
            for i in range(0, len(todo), BATCH_LIMIT):
                chunk = todo[i:i + BATCH_LIMIT]
                resp = self.send("POST", "/$batch", body={"requests": [
                    {"id": rid, "method": "GET", "url": url} for rid, url in chunk]})
                try:
                    answers = resp.json().get("responses")
                except (ValueError, AttributeError):
                    answers = None
                if not isinstance(answers, list):
                    raise GraphError("POST /$batch: the answer is not a batch response (malformed)")
                by_id = {str(a.get("id")): a for a in answers if isinstance(a, dict)}
                for rid, url in chunk:
                    a = by_id.get(rid)
                    status = int(a.get("status") or 0) if a else 0
                    if a is None or status == 429 or status >= 500:
                        again.append((rid, url))
                        headers = (a or {}).get("headers") or {}
                        wait = max(wait, net.retry_after_seconds(headers.get("Retry-After"), 0.0,
                                                                  RETRY_AFTER_CAP))
                        out[rid] = (status or 502, (a or {}).get("body"))
                    else:
                        out[rid] = (status, a.get("body"))
            if not again:
                break
            delay = next(delays, None)
            if delay is None:
                break  # the last answers stand (429/5xx): the caller reports them
            self._wait(max(wait, delay))
            todo = again
        for rid, url in requests_:  # complete the listings that have more pages
            status, body = out.get(rid, (0, None))
            if status == 200 and isinstance(body, dict) and body.get(self.next_key):
                values = list(page_items(body, url))
                try:
                    for page in self.pages(body[self.next_key]):
                        values.extend(page)
                except GraphError as exc:
                    out[rid] = (exc.status or 502, {"error": {"code": exc.code, "message": str(exc)}})
                    continue
                out[rid] = (200, {"value": values})
        return out


def page_items(body: dict[str, Any], what: str) -> list[Any]:
    value = body.get("value")
    if not isinstance(value, list):
        raise GraphError(f"GET {what}: expected a 'value' list (malformed answer)")
    return value


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None

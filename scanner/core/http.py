"""The one retry, Retry-After and paging helper every HTTP client of the project uses.

``sleep`` is an indirection so tests can make retries instantaneous
(``monkeypatch.setattr(scanner.core.http, "sleep", ...)``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests

from scanner.core.errors import CrossOriginRefused, PaginationLimit, ResponseTooLarge, WaitBudgetExceeded

MAX_RESPONSE_BYTES = 64 << 20  # per answer, decompressed: a 47 kB gzip must not cost 1.3 GB


def bounded_pages(max_pages: int, what: str) -> Iterator[int]:
    """Page numbers 1..max_pages for a pagination loop (``for page in bounded_pages(...)``
    instead of ``while True``). Past the bound it raises PaginationLimit: a server whose
    cursors never end (a bug, or a hostile endpoint) fails the target, visibly, instead
    of hanging the scan or silently cutting the list."""
    for page in range(1, max(1, max_pages) + 1):
        yield page
    raise PaginationLimit(f"{what}: more than {max_pages} pages, listing cut")


def backoff_delays(max_retries: int, base: float = 0.5, cap: float = 8.0) -> Iterator[float]:
    """Exponential backoff delays for retrying 429/5xx (bounded)."""
    for i in range(max_retries):
        yield min(cap, base * (2 ** i))


def sleep(seconds: float) -> None:
    """Indirection so tests can make retries instantaneous."""
    time.sleep(seconds)


def retry_after_seconds(value: Any, default: float, cap: float = 60.0) -> float:
    """A Retry-After header (seconds) as a bounded wait; ``default`` when absent or
    unreadable (HTTP-dates are rare on APIs and read as absent)."""
    try:
        return min(cap, max(0.0, float(value))) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def call_with_retries(call: Callable[[], Any], max_retries: int, *,
                      retryable: Callable[[BaseException], bool],
                      wait_for: Callable[[BaseException, float], float] | None = None) -> Any:
    """``call()`` until it returns, for clients that raise on a failed answer (an SDK):
    an exception ``retryable`` accepts is retried after bounded exponential backoff
    (``wait_for(exc, backoff)`` may stretch it, e.g. to the answer's Retry-After); any
    other exception, or one that outlasts the retries, is raised as it came."""
    delays = backoff_delays(max_retries)
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - re-raised unless retryable
            if not retryable(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            sleep(wait_for(exc, delay) if wait_for else delay)


def send_with_retries(send: Callable[[], Any], max_retries: int, *,
                      wait: Callable[[float], None] | None = None,
                      wait_for: Callable[[Any, float], float] | None = None) -> Any:
    """One HTTP request through ``send()`` (a requests call), retried on connection
    errors, 429 and 5xx with bounded exponential backoff. ``wait_for(resp, backoff)``
    says how long to wait before retrying that answer (default: its Retry-After, else
    the backoff). Returns the last answer, which may still be an error status for the
    caller to report; re-raises the last connection error when the retries run out."""
    pause = wait or (lambda s: sleep(s))
    delays = backoff_delays(max_retries)
    while True:
        try:
            resp = send()
        except requests.RequestException:
            delay = next(delays, None)
            if delay is None:
                raise
            pause(delay)
            continue
        if resp.status_code == 429 or resp.status_code >= 500:
            delay = next(delays, None)
            if delay is not None:
                pause(wait_for(resp, delay) if wait_for else
                      retry_after_seconds(resp.headers.get("Retry-After"), delay))
                continue
        return resp


# -- never a credential to another origin ---------------------------------------------


def origin(url: str) -> str:
    """``scheme://host:port`` (default port filled in, host lower-cased): what a
    credential is bound to. Paths, queries and userinfo are not part of it."""
    u = urlsplit(url)
    scheme = (u.scheme or "").lower()
    try:
        port = u.port or {"https": 443, "http": 80}.get(scheme, 0)
    except ValueError:
        port = -1
    return f"{scheme}://{(u.hostname or '').lower()}:{port}"


def require_same_origin(url: str, base_url: str, what: str) -> None:
    """Raise CrossOriginRefused unless ``url`` is on ``base_url``'s origin (relative URLs
    are). The one rule, for clients whose library follows links itself (PyGithub)."""
    if urlsplit(url).scheme and origin(url) != origin(base_url):
        raise CrossOriginRefused(f"{what}: refused a URL on another origin "
                                 f"({origin(url)}, not {origin(base_url)})")


def budgeted_sleep(seconds: float, waited: float, budget: float, what: str) -> None:
    """Sleep ``seconds`` unless the target's waits (``waited`` so far) would pass
    ``budget``: a rate-limit reset a day ahead fails the target with the reason instead
    of stalling the scan for hours."""
    if waited + seconds > budget:
        raise WaitBudgetExceeded(f"{what}: rate limited; waiting {seconds:.0f} s more would pass "
                                 f"this target's wait budget of {budget:.0f} s (network.max_wait_s)")
    sleep(seconds)


def read_capped(resp: requests.Response, limit: int = MAX_RESPONSE_BYTES) -> None:
    """Read a streamed answer into ``resp.content``, decompressed, refusing it past
    ``limit`` bytes (ResponseTooLarge) before it is held whole."""
    chunks, size = [], 0
    try:
        for chunk in resp.iter_content(1 << 16):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"answer larger than {limit >> 20} MB (decompressed): refused")
            chunks.append(chunk)
    except ResponseTooLarge:
        resp.close()
        raise
    resp._content = b"".join(chunks)
    resp._content_consumed = True


class OriginBoundSession(requests.Session):
    """A requests session bound to the origin of the credential it carries: it sends to
    that origin only, so a ``Link: rel="next"``, a 30x or a 307 to another scheme, host or
    port is refused before a request (with its Authorization, PRIVATE-TOKEN or SSWS
    header) leaves. Redirects within the origin are followed as usual (requests sends
    each hop through ``send``). tests/test_attack_surface_http.py: every client."""

    def __init__(self, base_url: str, what: str = "request",
                 max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        super().__init__()
        self.base_url = base_url
        self.what = what
        self.max_bytes = max_bytes

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Also: every answer read through ``read_capped`` (unless the caller streams)."""
        require_same_origin(request.url or "", self.base_url, self.what)
        stream = kwargs.pop("stream", False)
        resp = super().send(request, stream=True, **kwargs)
        if not stream:
            read_capped(resp, self.max_bytes)
        return resp


class JsonClient:
    """A GET-only JSON-over-HTTP client: one requests session carrying the credential
    (``Authorization: <scheme> <token>``), a timeout, bounded retries through
    ``send_with_retries``, a page bound and a call counter (``on_call`` once per HTTP
    request). Okta's and SCIM's clients are this plus their paging and error bodies; a
    new REST source starts from it instead of copying one."""

    accept = "application/json"
    what = "request"  # names the source in a refused cross-origin request

    def __init__(self, base_url: str, token: str | None, *, scheme: str = "Bearer",
                 timeout: float = 30.0, max_retries: int = 4, max_pages: int = 10_000,
                 on_call: Callable[[], None] = lambda: None):
        self.base_url = base_url.rstrip("/")
        self.session = OriginBoundSession(self.base_url, self.what)  # the token stays on its origin
        self.session.headers["Accept"] = self.accept
        if token:
            self.session.headers["Authorization"] = f"{scheme} {token}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_pages = max_pages  # per listing (``bounded_pages``): the config's network.max_pages
        self.on_call = on_call

    def before_send(self) -> None:
        """Called before each HTTP request (a client that must pause for a rate-limit
        window does it here)."""

    def send_get(self, url: str, params: dict[str, Any] | None = None, *,
                 wait: Callable[[float], None] | None = None,
                 wait_for: Callable[[Any, float], float] | None = None) -> requests.Response:
        """One GET of an absolute URL, counted and retried; the last answer, whatever its
        status (the caller reads its error body); a connection error that outlasts the
        retries is raised as requests raised it."""
        def send() -> requests.Response:
            self.before_send()
            self.on_call()
            return self.session.get(url, params=params, timeout=self.timeout)

        return send_with_retries(send, self.max_retries, wait=wait, wait_for=wait_for)

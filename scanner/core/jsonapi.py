"""The shared GET-only JSON client of the small SaaS sources (Atlassian, OpenAI,
Anthropic): one place for auth headers, request counting, the project's retry loop
(``collectors.http.send_with_retries``: 429/5xx/connection errors, Retry-After), page
bounds, and the origin rule.

Why one client: each provider differs only in its auth header, its error body and its
paging cursor; copying a requests loop per provider is how retries and page bounds drift.
Redirects are never followed (a 3xx is an error), and a "next page" URL the provider
hands back is only followed on the configured origin, so the credential in the headers
never reaches another host.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from scanner.core import http
from scanner.core.errors import CollectorError


class HttpError(CollectorError):
    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class JsonApi:
    """GET ``base_url + path`` with ``headers``; ``error_text(body)`` extracts the
    provider's error message from a JSON error body (never echoing a credential)."""

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float, max_retries: int,
                 on_call: Callable[[], None], max_pages: int,
                 error_text: Callable[[Any], str] = lambda body: ""):
        self.base_url = base_url.rstrip("/")
        self.session = http.OriginBoundSession(self.base_url, "request")  # credential on its origin, answers capped
        self.session.headers.update({"Accept": "application/json", **headers})
        self.timeout = timeout
        self.max_retries = max_retries
        self.on_call = on_call
        self.max_pages = max_pages
        self.error_text = error_text

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if http.origin(path_or_url) != http.origin(self.base_url):
                raise HttpError(f"refused a link to another origin ({urlsplit(path_or_url).netloc})")
            return path_or_url
        return f"{self.base_url}{path_or_url}"

    def get(self, path: str, params: Any = None) -> Any:
        """The JSON body of one GET (retried as the project retries); HttpError otherwise."""
        url = self.url(path)
        shown = urlsplit(url).path

        def send() -> requests.Response:
            self.on_call()
            return self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False)

        try:
            resp = http.send_with_retries(send, self.max_retries)
        except requests.RequestException as exc:
            raise HttpError(f"GET {shown}: {exc.__class__.__name__}") from None
        if 300 <= resp.status_code < 400:
            raise HttpError(f"GET {shown}: HTTP {resp.status_code} redirect refused", resp.status_code)
        if resp.status_code >= 400:
            try:
                detail = self.error_text(resp.json())
            except ValueError:
                detail = ""
            raise HttpError(f"GET {shown}: HTTP {resp.status_code}" + (f": {detail[:200]}" if detail else ""),
                            resp.status_code)
        try:
            return resp.json()
        except ValueError:
            raise HttpError(f"GET {shown}: the answer is not JSON", resp.status_code) from None

    def pages(self, path: str, params: dict[str, Any] | None,
              next_of: Callable[[dict[str, Any], dict[str, Any] | None], tuple[str, dict[str, Any] | None] | None],
              items_key: str = "data") -> Any:
        """Every item of a listing: ``next_of(body, params)`` gives the next (path or URL,
        params), or None on the last page. Bounded by ``max_pages``; a page that is not
        a JSON object with a list under ``items_key`` is a malformed answer."""
        here: tuple[str, dict[str, Any] | None] | None = (path, params)
        for _ in http.bounded_pages(self.max_pages, f"GET {path}"):
            if here is None:
                return
            body = self.get(*here)
            items = body.get(items_key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise HttpError(f"GET {path}: malformed answer (expected an object with a {items_key!r} list)")
            yield from items
            nxt = next_of(body, here[1]) if items else None
            here = (nxt[0] or path, nxt[1]) if nxt else None


def after_cursor(param: str) -> Callable[[dict[str, Any], dict[str, Any] | None], Any]:
    """OpenAI/Anthropic paging: ``has_more`` and ``last_id``, sent back as ``param``."""
    def next_of(body: dict[str, Any], params: dict[str, Any] | None) -> Any:
        if not body.get("has_more") or not body.get("last_id"):
            return None
        return ("", {**(params or {}), param: body["last_id"]})
    return next_of

"""Repositories of a GitHub organisation or a GitLab group, listed from the code host.

Why: the repositories people forget are the ones nobody lists by hand. The iac block names
the organisation or group (``github_org`` / ``gitlab_group``) and repeats the code host's
URL and a read token (``${GITHUB_TOKEN}`` expands in both blocks: the iac collector sees
only its own config block and nothing of the code-host collectors' code). Listing is one
paged REST call per 100 repositories:

- GitHub: ``GET {github_base_url}/orgs/{org}/repos?type=all&per_page=100`` (Link rel=next);
- GitLab: ``GET {gitlab_url}/api/v4/groups/{group}/projects?include_subgroups=true&with_shared=false``.

Each listed repository is then cloned (bare, into the cache) over its ``clone_url`` /
``http_url_to_repo``. The token reaches git only through the environment of the git
process (``GIT_CONFIG_*``: an ``http.<origin>/.extraHeader`` scoped to the code host's
own git origin), never in a URL, an argument or the clone's config; a clone URL on any
other origin gets no token.

get (``Lister.pages``: counted, retried on 429/5xx honouring Retry-After, bounded) ->
transform (``github_repos`` / ``gitlab_projects``: pure, payload -> RemoteRepo).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlparse

from scanner.core import http
from scanner.core.errors import CollectorError
from scanner.core.http import backoff_delays, bounded_pages

log = logging.getLogger("residual.collectors.iac")

CLONE_SCHEMES = ("https", "http", "ssh", "git", "file")
RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class RemoteRepo:
    name: str  # "acme/app", "platform/infra/app": the location prefix of its findings
    clone_url: str
    archived: bool = False
    empty: bool = False


# -- transform (pure) ------------------------------------------------------------------


def github_repos(page: Any) -> tuple[list[RemoteRepo], int]:
    """One page of ``GET /orgs/{org}/repos`` -> repositories, and how many were malformed."""
    return _repos(page, lambda r: (r.get("full_name"), r.get("clone_url"),
                                   bool(r.get("archived")), False))


def gitlab_projects(page: Any) -> tuple[list[RemoteRepo], int]:
    """One page of ``GET /groups/:id/projects`` -> repositories, and how many were malformed."""
    return _repos(page, lambda p: (p.get("path_with_namespace"), p.get("http_url_to_repo"),
                                   bool(p.get("archived")), bool(p.get("empty_repo"))))


def _repos(page: Any, fields: Callable[[dict[str, Any]], tuple[Any, Any, bool, bool]]
           ) -> tuple[list[RemoteRepo], int]:
    if not isinstance(page, list):
        return [], 1
    out, bad = [], 0
    for item in page:
        name, url, archived, empty = fields(item) if isinstance(item, dict) else (None, None, False, False)
        if not isinstance(name, str) or not name or not isinstance(url, str) \
                or urlparse(url).scheme not in CLONE_SCHEMES:
            bad += 1
            continue
        out.append(RemoteRepo(name=name, clone_url=url, archived=archived, empty=empty))
    return out, bad


def git_origin(api_url: str, kind: str) -> str:
    """The origin git is served from, for a code host's API URL: GitHub's API lives on
    ``api.github.com`` (git on ``github.com``), GitHub Enterprise's under ``/api/v3`` of
    the same host, GitLab's under ``/api/v4`` of the same host."""
    u = urlparse(api_url)
    host = u.netloc
    if kind == "github" and host.startswith("api."):
        host = host[len("api."):]
    return f"{u.scheme}://{host}/"


def on_origin(clone_url: str, origin: str) -> bool:
    """A listed clone URL is cloned only from the code host's own origin (scheme, host,
    port): a listing must not point git at another host, a local path or ``file://``."""
    u = urlparse(clone_url)
    return u.scheme in ("http", "https") and f"{u.scheme}://{u.netloc.rsplit('@', 1)[-1]}/" == origin


def auth_env(clone_url: str, token: str | None, origin: str, username: str) -> dict[str, str]:
    """Environment for the git process that clones/fetches ``clone_url``: an HTTP basic
    Authorization header for the code host's own origin only (pure)."""
    if not token:
        return {}
    u = urlparse(clone_url)
    if u.scheme not in ("http", "https") or f"{u.scheme}://{u.netloc}/" != origin:
        return {}
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{origin}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


# -- get -----------------------------------------------------------------------------


class Lister:
    """Paged GETs against a code host's REST API, each call counted."""

    def __init__(self, count_call: Callable[[], None], max_pages: int, max_retries: int,
                 timeout: float) -> None:
        self.http: http.OriginBoundSession | None = None
        self.count_call = count_call
        self.max_pages = max_pages
        self.max_retries = max_retries
        self.timeout = timeout

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def pages(self, url: str, headers: dict[str, str], params: dict[str, str], what: str
              ) -> Iterator[Any]:
        """Each page's JSON, following ``Link: rel="next"`` until there is none."""
        next_url: str | None = url
        query: dict[str, str] | None = params
        self.close()
        self.http = http.OriginBoundSession(url, what)  # the token stays on the code host
        for _ in bounded_pages(self.max_pages, what):
            if next_url is None:
                return
            resp = self._get(next_url, headers, query, what)
            try:
                yield resp.json()
            except ValueError:
                raise CollectorError(f"{what}: answer is not JSON") from None
            next_url = resp.links.get("next", {}).get("url")
            query = None  # the next link carries the query

    def _get(self, url: str, headers: dict[str, str], params: dict[str, str] | None, what: str):
        import requests
        delays = backoff_delays(self.max_retries)
        while True:
            self.count_call()
            assert self.http is not None
            try:  # no redirects: a PRIVATE-TOKEN header would follow one to any host
                resp = self.http.get(url, headers=headers, params=params, timeout=self.timeout,
                                     allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                delay = next(delays, None)
                if delay is None:
                    raise CollectorError(f"{what}: {exc.__class__.__name__} after "
                                         f"{self.max_retries} retries") from None
                http.sleep(delay)
                continue
            except requests.RequestException as exc:
                raise CollectorError(f"{what}: {exc.__class__.__name__}") from None
            retry_after = resp.headers.get("Retry-After")
            retryable = resp.status_code in RETRY_STATUS or (resp.status_code == 403 and retry_after)
            if not retryable:
                break
            delay = next(delays, None)
            if delay is None:
                raise CollectorError(f"{what}: HTTP {resp.status_code} after {self.max_retries} retries")
            http.sleep(min(60.0, max(delay, http.retry_after_seconds(retry_after, delay))))
        if resp.status_code != 200:
            raise CollectorError(f"{what}: HTTP {resp.status_code} {_message(resp)}".rstrip())
        return resp


def _message(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    msg = body.get("message") or body.get("error") if isinstance(body, dict) else ""
    return str(msg)[:120] if msg else ""


def list_github(lister: Lister, base_url: str, org: str, token: str | None
                ) -> tuple[list[RemoteRepo], int]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"token {token}"
    repos, bad = [], 0
    for page in lister.pages(f"{base_url.rstrip('/')}/orgs/{quote(org, safe='')}/repos", headers,
                             {"type": "all", "per_page": "100"}, f"github org {org}: repositories"):
        got, b = github_repos(page)
        repos += got
        bad += b
    return repos, bad


def list_gitlab(lister: Lister, url: str, group: str, token: str | None
                ) -> tuple[list[RemoteRepo], int]:
    headers = {"PRIVATE-TOKEN": token} if token else {}
    repos, bad = [], 0
    api = f"{url.rstrip('/')}/api/v4/groups/{quote(group, safe='')}/projects"
    for page in lister.pages(api, headers, {"include_subgroups": "true", "with_shared": "false",
                                            "per_page": "100", "order_by": "id", "sort": "asc"},
                             f"gitlab group {group}: projects"):
        got, b = gitlab_projects(page)
        repos += got
        bad += b
    return repos, bad

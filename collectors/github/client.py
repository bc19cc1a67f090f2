"""GitHub: the get side. The REST/GraphQL client (Link pagination, ETag cache, bounded
retries honouring Retry-After and X-RateLimit-Reset, call counting), the GraphQL queries,
and what each optional part needs (named in its skipped coverage row)."""

from __future__ import annotations

import json
import logging
import re
import time
from scanner.core import http
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urlsplit

from scanner.core.errors import CollectorError
from scanner.core.http import backoff_delays, bounded_pages


log = logging.getLogger("residual.collectors.github")

PAGE = 100

# --- errors --------------------------------------------------------------------------------

# What each optional part needs (docs/permissions/github.md), named in its "skipped" row:
# GitHub's 403/404 bodies do not say it.
NEEDS = {
    "saml-identities": "an org owner's token (admin:org or read:org) on an org with SAML",
    "enterprise-saml-identities": "read:enterprise and an enterprise owner",
    "outside_collaborators": "read:org (App: Members read)",
    "invitations": "an org owner, read:org (App: Members read)",
    "failed_invitations": "an org owner, read:org (App: Members read)",
    "credential-authorizations": "an org owner on Enterprise Cloud with SAML, read:org",
    "personal-access-tokens": "a GitHub App with Organization: Personal access tokens read",
    "installations": "an org owner, read:org (App: Administration read)",
    "hooks": "admin:org_hook (App: Webhooks read)",
    "actions/secrets": "an org owner, repo or admin:org (App: Secrets read)",
    "actions/runners": "an org owner, admin:org (App: Self-hosted runners read)",
    "repo-hooks": "admin on the repositories, repo (App: Repository Administration read)",
    "audit-log": "GitHub Enterprise Cloud and an org owner's token with read:audit_log "
                 "(App: Organization administration read)",
}


def needs(what: str) -> str:
    return f" (needs {NEEDS[what]})" if what in NEEDS else ""

_GQL_TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]|[_A-Za-z][_0-9A-Za-z]*|.', re.S)


def is_read_only_graphql(document: str) -> bool:
    """True when no operation of the GraphQL document is a mutation or a subscription.
    The document is tokenised (strings, block strings and comments skipped), and every
    name at brace depth 0 is an operation type, an operation or fragment name, or
    ``fragment``/``on``: a ``mutation`` anywhere at the top level, second or third
    operation included, is refused (a prefix test would pass ``query A {..} mutation B``)."""
    depth = 0
    for m in _GQL_TOKEN.finditer(document):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(0, depth - 1)
        elif depth == 0 and tok in ("mutation", "subscription"):
            return False
    return True


class GitHubApiError(CollectorError):
    """An HTTP answer the collector cannot get past; ``reason`` is safe to show."""

    def __init__(self, status: int, reason: str, saml: bool = False, gave_up: bool = False):
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason
        self.saml = saml
        self.gave_up = gave_up  # rate-limited or failing past the retries: not a plan limit

    @property
    def optional_skip(self) -> bool:
        """403/404 on an optional endpoint: the plan or the token does not allow it."""
        return self.status in (403, 404) and not self.gave_up


class GraphQLError(CollectorError):
    def __init__(self, errors: list[dict[str, Any]]):
        first = errors[0] if errors else {}
        self.saml = any((e.get("extensions") or {}).get("saml_failure") for e in errors)
        self.forbidden = any(e.get("type") == "FORBIDDEN" for e in errors)
        self.missing_scopes = missing_scopes(errors)
        self.errors = errors
        if self.saml:
            msg = "SAML SSO enforcement: the token is not authorized for this organization"
        elif self.missing_scopes:
            msg = f"the token lacks the scope {' or '.join(self.missing_scopes)}"
        else:
            msg = str(first.get("message") or "GraphQL error")[:200]
        super().__init__(f"GraphQL: {msg}")

    @property
    def insufficient_scopes(self) -> bool:
        return any(e.get("type") == "INSUFFICIENT_SCOPES" for e in self.errors)


def missing_scopes(errors: list[dict[str, Any]]) -> list[str]:
    """The scopes GitHub names in INSUFFICIENT_SCOPES errors ("The 'email' field requires
    one of the following scopes: ['user:email', 'read:user'], but your token has only been
    granted the: [...]"), in order, once each: what the coverage row tells the operator."""
    out: list[str] = []
    for e in errors:
        if e.get("type") != "INSUFFICIENT_SCOPES":
            continue
        m = re.search(r"requires one of the following scopes: \[([^\]]*)\]", str(e.get("message") or ""))
        for scope in re.findall(r"'([^']+)'", m.group(1) if m else ""):
            if scope not in out:
                out.append(scope)
    return out or (["(unnamed)"] if any(e.get("type") == "INSUFFICIENT_SCOPES" for e in errors) else [])


def _reason(status: int, body: Any, headers: dict[str, str]) -> tuple[str, bool]:
    message = body.get("message") if isinstance(body, dict) else None
    message = str(message or "")
    if status == 403 and ("saml" in message.lower() or "x-github-sso" in headers):
        return "SAML SSO enforcement: the token is not authorized for this organization", True
    if status == 404:
        return "not found (the org's plan or the token's access does not include it)", False
    if status == 401:
        return "bad credentials", False
    return (message[:200] or f"HTTP {status}"), False


def _is_rate_limited(status: int, body: Any, headers: dict[str, str]) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    message = str((body or {}).get("message") or "").lower() if isinstance(body, dict) else ""
    return ("rate limit" in message or "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0")


# --- the ETag cache ----------------------------------------------------------------------------

class EtagCache:
    """Conditional-request cache: URL -> (ETag, Link header, body). One JSON file per
    source in the inventory's cache dir. Bodies are API listings (names, dates, public
    keys), never secret values: GitHub returns Actions secret names, not values."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]
        except (OSError, ValueError):
            pass

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, etag: str, link: str | None, body: Any) -> None:
        self.entries[key] = {"etag": etag, "link": link, "body": body}

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"v": 1, "entries": self.entries}), encoding="utf-8")
            tmp.chmod(0o600)  # org structure is nobody else's business
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("github: could not save the ETag cache: %s", exc.__class__.__name__)


# --- the API client ----------------------------------------------------------------------------

@dataclass
class CallStats:
    rest: int = 0
    graphql: int = 0
    not_modified: int = 0
    retries: int = 0
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"rest": self.rest, "graphql": self.graphql, "not_modified": self.not_modified,
                "retries": self.retries, "rate_limit_wait_s": round(self.waited_s, 1)}


def capped_connection(base_url: str, timeout: float) -> Any:
    """PyGithub's own connection (it builds each URL from the host it was made for), on a
    session that stays on the API's origin and reads every answer capped
    (scanner.core.http.OriginBoundSession): PyGithub's would read a gzip bomb whole."""
    from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

    u = urlsplit(base_url)
    cls = HTTPSRequestsConnectionClass if u.scheme == "https" else HTTPRequestsConnectionClass
    cnx = cls(u.hostname, u.port, timeout=timeout, retry=0)
    session = http.OriginBoundSession(base_url, "github")
    session.auth = cnx.session.auth  # PyGithub's no-op auth: no fallback to ~/.netrc
    for prefix, adapter in cnx.session.adapters.items():
        session.mount(prefix, adapter)
    cnx.session = session
    return cnx


class GitHubApi:
    """PyGithub's Requester, plus what a scanner needs on top: conditional requests,
    Link pagination, bounded retries honouring Retry-After and X-RateLimit-Reset, and a
    count of every call."""

    MAX_WAIT_S = 3600.0

    def __init__(self, requester: Any, cache: EtagCache | None, on_call: Callable[[], None],
                 max_retries: int = 4, max_pages: int = 10_000, timeout: float = 30.0):
        self.requester = requester
        self.cnx = capped_connection(requester.base_url, timeout)
        self.cache = cache
        self.on_call = on_call
        self.max_retries = max_retries
        self.max_pages = max_pages  # per listing: a list that never ends fails the target
        self.max_wait_s = 3600.0  # rate-limit waits in total (the collector sets network.max_wait_s)
        self.stats = CallStats()
        self._reset_at: dict[str, float] = {}  # resource -> epoch when the budget is back

    # -- low level --
    def _wait(self, seconds: float) -> None:
        seconds = max(0.0, min(self.MAX_WAIT_S, seconds))
        http.budgeted_sleep(seconds, self.stats.waited_s, self.max_wait_s, "github")
        self.stats.waited_s += seconds

    def _request(self, verb: str, url: str, params: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, body: Any = None,
                 resource: str = "core") -> tuple[int, dict[str, str], Any]:
        delays = iter(backoff_delays(self.max_retries))
        while True:
            reset = self._reset_at.pop(resource, None)
            if reset is not None:  # the budget ran out on the previous answer: wait for it
                self._wait(reset - time.time() + 1)
            self.on_call()
            if resource == "graphql":
                self.stats.graphql += 1
            else:
                self.stats.rest += 1
            try:
                status, rh, text = self.requester.requestJson(verb, url, params, headers, body, cnx=self.cnx)
            except (OSError, ConnectionError) as exc:  # requests' errors derive from OSError
                delay = next(delays, None)
                if delay is None:
                    raise CollectorError(f"connection failed: {exc.__class__.__name__}") from None
                self.stats.retries += 1
                self._wait(delay)
                continue
            rh = {k.lower(): v for k, v in (rh or {}).items()}
            data = _parse(text)
            if rh.get("x-ratelimit-remaining") == "0" and status < 400:
                self._reset_at[resource] = float(rh.get("x-ratelimit-reset") or time.time() + 60)
            if _is_rate_limited(status, data, rh) or status >= 500:
                delay = next(delays, None)
                if delay is None:
                    reason, _ = _reason(status, data, rh)
                    raise GitHubApiError(status, f"gave up after {self.max_retries} retries: {reason}",
                                         gave_up=True)
                self.stats.retries += 1
                if "retry-after" in rh:
                    delay = float(rh["retry-after"])
                elif rh.get("x-ratelimit-remaining") == "0" and status in (403, 429):
                    delay = float(rh.get("x-ratelimit-reset") or 0) - time.time() + 1
                elif status in (403, 429):
                    delay = 60.0  # secondary limit without Retry-After: GitHub says wait a minute
                self._wait(delay)
                continue
            return status, rh, data

    # -- REST --
    def get(self, url: str, params: dict[str, Any] | None = None,
            scrub: Callable[[Any], Any] | None = None) -> tuple[Any, str | None]:
        """One conditional GET: (body, Link header). A 304 answers from the cache.
        ``scrub`` rewrites a body before it is cached or used (e.g. replaces a token's
        last eight characters by their keyed digest), so the cache holds nothing secret."""
        if params:  # encoded here: a list value is the key repeated (``owner[]=a&owner[]=b``),
            # which older PyGithub's own encoding does not do
            url += ("&" if "?" in url else "?") + urlencode(sorted(params.items()), doseq=True)
        key = url
        cached = self.cache.get(key) if self.cache else None
        headers = {"If-None-Match": cached["etag"]} if cached else None
        status, rh, data = self._request("GET", url, None, headers)
        if status == 304 and cached:
            self.stats.not_modified += 1
            return cached["body"], cached.get("link")
        if status >= 400:
            reason, saml = _reason(status, data, rh)
            raise GitHubApiError(status, reason, saml)
        if status != 200:
            raise GitHubApiError(status, f"unexpected HTTP {status}")
        link = rh.get("link")
        if scrub is not None:
            data = scrub(data)
        if self.cache is not None and rh.get("etag"):
            self.cache.put(key, rh["etag"], link, data)
        return data, link

    def get_all(self, path: str, envelope: str | None = None,
                params: dict[str, Any] | None = None,
                scrub: Callable[[Any], Any] | None = None) -> list[Any]:
        """Every page of a REST list, following ``Link: rel="next"``."""
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": PAGE, **(params or {})}
        seen: set[str] = set()
        for _ in bounded_pages(self.max_pages, f"listing {path}"):
            if url in seen:  # a server that links back to a page already read
                raise CollectorError(f"pagination loop at {path}")
            seen.add(url)
            data, link = self.get(url, query, scrub)
            query = None  # next links carry their query string
            page = data.get(envelope) if envelope and isinstance(data, dict) else data
            if not isinstance(page, list):
                raise CollectorError(f"malformed answer from {path}: expected a list")
            items.extend(page)
            url = _next_link(link)
            if not url:
                break
            # the token goes wherever the link points (PyGithub allows other hosts of its domain)
            http.require_same_origin(url, self.requester.base_url, f"listing {path}")
        return items

    # -- GraphQL --
    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A GraphQL query (never a mutation). Raises GraphQLError when the answer has
        errors and no usable data; partial errors are returned under ``_errors``."""
        if not is_read_only_graphql(query):
            raise ValueError("only GraphQL queries are allowed")
        status, rh, data = self._request("POST", self.requester.graphql_url, None, None,
                                         {"query": query, "variables": variables}, "graphql")
        if status >= 400:
            reason, saml = _reason(status, data, rh)
            raise GitHubApiError(status, reason, saml)
        if not isinstance(data, dict):
            raise CollectorError("malformed GraphQL answer")
        errors = data.get("errors") or []
        out = data.get("data") or {}
        if errors and (not any(v for v in out.values())
                       or any(e.get("type") == "INSUFFICIENT_SCOPES" for e in errors)):
            # a field the token may not read comes back null, which reads like "none":
            # the caller decides what that part is worth (skipped, or retried without it)
            raise GraphQLError(errors)
        if errors:
            out["_errors"] = errors
        return out

    def connection(self, query: str, variables: dict[str, Any], path: list[str]) -> Iterator[dict[str, Any]]:
        """Every page of one GraphQL connection (``path`` leads to it in ``data``),
        100 to a page."""
        after = None
        for _ in bounded_pages(self.max_pages, f"GraphQL {'/'.join(path)}"):
            data = self.graphql(query, {**variables, "first": PAGE, "after": after})
            conn: Any = data
            for p in path:
                conn = conn.get(p) if isinstance(conn, dict) else None
            if conn is None:
                if data.get("_errors"):
                    raise GraphQLError(data["_errors"])
                return
            yield conn
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor") or info.get("endCursor") == after:
                return
            after = info["endCursor"]


def _parse(text: Any) -> Any:
    if text in (None, "", b""):
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _next_link(link: str | None) -> str | None:
    for part in (link or "").split(","):
        m = re.search(r'<([^>]+)>\s*;\s*rel="next"', part)
        if m:
            return m.group(1)
    return None


# --- GraphQL queries ------------------------------------------------------------------------

Q_REPOS = """query OrgRepos($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    repositories(first: $first, after: $after, orderBy: {field: NAME, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        databaseId name nameWithOwner isPrivate isArchived updatedAt
        collaborators(first: 100, affiliation: DIRECT) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { permission node { login databaseId } }
        }
        deployKeys(first: 100) {
          totalCount pageInfo { hasNextPage endCursor }
          nodes { id title key readOnly verified enabled createdAt }
        }
      }
    }
  }
}"""

Q_REPO_COLLABORATORS = """query RepoCollaborators($org: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $org, name: $name) {
    collaborators(first: $first, after: $after, affiliation: DIRECT) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { permission node { login databaseId } }
    }
  }
}"""

Q_REPO_DEPLOY_KEYS = """query RepoDeployKeys($org: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $org, name: $name) {
    deployKeys(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id title key readOnly verified enabled createdAt }
    }
  }
}"""

Q_MEMBERS = """query OrgMembers($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    membersWithRole(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { role hasTwoFactorEnabled node { id databaseId login name email } }
    }
  }
}"""

# ``User.email`` (the public profile e-mail) needs ``user:email`` or ``read:user``, beyond
# what the org listing needs: a token without it reads the members without e-mails.
Q_MEMBERS_NO_EMAIL = Q_MEMBERS.replace(" name email }", " name }")

Q_TEAMS = """query OrgTeams($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    teams(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes {
        databaseId slug name privacy
        members(first: 100, membership: ALL) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { role node { login } }
        }
        repositories(first: 100) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { permission node { name } }
        }
      }
    }
  }
}"""

Q_TEAM_MEMBERS = """query TeamMembers($org: String!, $slug: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    team(slug: $slug) {
      members(first: $first, after: $after, membership: ALL) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { role node { login } }
      }
    }
  }
}"""

Q_TEAM_REPOS = """query TeamRepos($org: String!, $slug: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    team(slug: $slug) {
      repositories(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { permission node { name } }
      }
    }
  }
}"""

Q_USER_IN_ORG = """query UserInOrg($org: String!, $login: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(first: 1, login: $login) {
        edges { node { guid samlIdentity { nameId username } scimIdentity { username } user { login } } }
      }
    }
    teams(first: $first, after: $after, userLogins: [$login]) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes {
        databaseId slug name privacy
        members(first: 10, query: $login, membership: ALL) { edges { role node { login } } }
        repositories(first: 100) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { permission node { databaseId name nameWithOwner isPrivate isArchived updatedAt } }
        }
      }
    }
  }
}"""

Q_REPO_ACCESS = """query RepoAccess($org: String!, $name: String!, $login: String!) {
  repository(owner: $org, name: $name) {
    databaseId name nameWithOwner isPrivate isArchived updatedAt
    collaborators(first: 10, query: $login, affiliation: DIRECT) {
      edges { permission node { login databaseId } }
    }
  }
}"""

Q_SAML = """query SamlIdentities($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    samlIdentityProvider {
      id ssoUrl issuer
      externalIdentities(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { guid samlIdentity { nameId username } scimIdentity { username } user { login } } }
      }
    }
  }
}"""

# Enterprise-level SAML (Enterprise Cloud with SSO configured on the enterprise account,
# where the org itself has no IdP). ``ownerInfo`` needs ``read:enterprise`` and an
# enterprise owner.
Q_ENTERPRISE_SAML = """query EnterpriseSamlIdentities($slug: String!, $first: Int!, $after: String) {
  enterprise(slug: $slug) {
    ownerInfo {
      samlIdentityProvider {
        id ssoUrl issuer
        externalIdentities(first: $first, after: $after) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { node { guid samlIdentity { nameId username } scimIdentity { username } user { login } } }
        }
      }
    }
  }
}"""

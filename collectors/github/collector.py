"""GitHub: who can reach an organization's code, and with what credentials.

Why this shape (budget first): a naive collector asks for collaborators, deploy keys,
secrets and hooks repository by repository, several REST calls per repository, and needs
days for a large org. Here:

- the **bulk pass** takes repositories (with their direct collaborators and deploy
  keys), members with their role, teams (with members and repositories) and the SAML
  external identities through GraphQL connections, 100 to a page; org-level REST lists
  (invitations, failed invitations, outside collaborators, credential authorizations,
  fine-grained PAT grants, app installations, org Actions secrets, org webhooks,
  self-hosted runners) are one or a few pages each. Deploy-key details GraphQL does not
  carry (``added_by``, ``last_used``) come over REST for the repositories that have keys.
- the **deep pass** asks per repository (Actions secrets, webhooks) only for repositories
  a scoped account (a leaver, an unowned account) can administer or write, and per user
  (public SSH keys) only for scoped accounts. ``secrets: all`` lists every repository's
  secrets in the bulk pass, for full hygiene audits.
- every REST GET is **conditional** (ETag / If-None-Match, the cache a JSON file per
  source beside the inventory), so a rescan of an unchanged org is mostly 304s, which
  GitHub does not count against the rate limit.

Only reads: HTTP GET and GraphQL ``query`` (never ``mutation``). With GitHub App auth,
PyGithub's token exchange (POST /app/installations/{id}/access_tokens) is authentication,
not a change to the org.

Records follow the shared conventions (source ``github:<org>``, Account native_id = login,
membership = Account + Grant to the org resource, ...). Transform functions are pure:
payload in, records out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from scanner.core import http
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlencode

from collectors.base import Collector, Scope
from scanner.core.errors import CollectorError
from scanner.core.http import backoff_delays, bounded_pages
from scanner.core.model import Account, Credential, Grant, Record, Resource, make_uid
from scanner.core.options import Option
from scanner.core.secrets import Fingerprinter, safe_url
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.github")

SYSTEM = "github"
WRITE_PERMISSIONS = {"admin", "maintain", "write"}
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
}


def needs(what: str) -> str:
    return f" (needs {NEEDS[what]})" if what in NEEDS else ""

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


class GitHubApi:
    """PyGithub's Requester, plus what a scanner needs on top: conditional requests,
    Link pagination, bounded retries honouring Retry-After and X-RateLimit-Reset, and a
    count of every call."""

    MAX_WAIT_S = 3600.0

    def __init__(self, requester: Any, cache: EtagCache | None, on_call: Callable[[], None],
                 max_retries: int = 4, max_pages: int = 10_000):
        self.requester = requester
        self.cache = cache
        self.on_call = on_call
        self.max_retries = max_retries
        self.max_pages = max_pages  # per listing: a list that never ends fails the target
        self.max_wait_s = 900.0  # rate-limit waits in total (the collector sets network.max_wait_s)
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
                status, rh, text = self.requester.requestJson(verb, url, params, headers, body)
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


# --- pure transforms: payload -> records ------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    """GitHub timestamps (``Z`` or an offset) as aware UTC; "" or null -> None."""
    if not value or not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def ssh_fingerprint(public_key: str | None) -> str | None:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it; None for a key we cannot decode."""
    parts = (public_key or "").split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, TypeError):
        return None
    if len(blob) < 8:
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def permission_name(value: Any) -> str:
    """GraphQL ``ADMIN/MAINTAIN/WRITE/TRIAGE/READ`` and REST ``push/pull`` -> one vocabulary."""
    v = str(value or "").lower()
    return {"push": "write", "pull": "read"}.get(v, v)


@dataclass
class Org:
    """Names every transform needs."""

    login: str

    @property
    def source(self) -> str:
        return f"{SYSTEM}:{self.login}"

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.login)

    def account_uid(self, login: str) -> str:
        return make_uid(self.source, login)

    def repo_id(self, name: str) -> str:
        return f"{self.login}/{name}"

    def repo_uid(self, name: str) -> str:
        return make_uid(self.source, self.repo_id(name))

    def team_uid(self, slug: str) -> str:
        return make_uid(self.source, f"{self.login}/teams/{slug}")


def transform_org(org: Org) -> Resource:
    return Resource(SYSTEM, org.source, org.login, "org", name=org.login)


def transform_saml(edges: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """login -> the corporate e-mails its SAML/SCIM identity carries (the strongest
    evidence resolve gets). An identity with ``user: null`` is linked to no account."""
    out: dict[str, list[str]] = {}
    for e in edges:
        node = (e or {}).get("node") or {}
        login = ((node.get("user") or {}).get("login"))
        if not login:
            continue
        emails = [v for v in ((node.get("samlIdentity") or {}).get("nameId"),
                              (node.get("samlIdentity") or {}).get("username"),
                              (node.get("scimIdentity") or {}).get("username")) if v and "@" in v]
        if emails:
            out.setdefault(login, [])
            out[login].extend(e for e in emails if e not in out[login])
    return out


def transform_member(org: Org, edge: dict[str, Any], linked: dict[str, list[str]]) -> list[Record]:
    node = edge["node"]
    login = node["login"]
    role = str(edge.get("role") or "MEMBER").lower()
    kind = "bot" if login.endswith("[bot]") else "user"
    attrs: dict[str, Any] = {"org_role": role, "two_factor": edge.get("hasTwoFactorEnabled"),
                             "name": node.get("name") or ""}
    if linked.get(login):
        attrs["linked_emails"] = linked[login]
    acc = Account(SYSTEM, org.source, login, login=login, email=node.get("email") or None,
                  kind=kind, status="active", attributes=attrs)
    return [acc, Grant(SYSTEM, org.source, acc.uid, org.uid, role, "direct")]


def transform_outside_collaborator(org: Org, user: dict[str, Any],
                                   linked: dict[str, list[str]]) -> Account:
    login = user["login"]
    attrs: dict[str, Any] = {"outside_collaborator": True}
    if linked.get(login):
        attrs["linked_emails"] = linked[login]
    return Account(SYSTEM, org.source, login, login=login, kind="user", status="active",
                   attributes=attrs)


def transform_invitation(org: Org, inv: dict[str, Any], failed: bool = False) -> Account:
    """A pending invitation is access waiting to happen: Account(status="pending",
    email=invitee). A failed one can no longer be accepted (status "deleted")."""
    attrs = {"invitation": True, "invitation_id": inv["id"], "role": inv.get("role"),
             "inviter": (inv.get("inviter") or {}).get("login"),
             "invited_at": inv.get("created_at")}
    if failed:
        attrs.update(failed_at=inv.get("failed_at"), failed_reason=inv.get("failed_reason"))
    return Account(SYSTEM, org.source, f"invitation:{inv['id']}", login=inv.get("login") or "",
                   email=inv.get("email") or None, kind="user",
                   status="deleted" if failed else "pending",
                   created_at=parse_time(inv.get("created_at")), attributes=attrs)


def transform_repo(org: Org, node: dict[str, Any]) -> list[Record]:
    name = node["name"]
    res = Resource(SYSTEM, org.source, org.repo_id(name), "repo", name=name,
                   updated_at=parse_time(node.get("updatedAt")),
                   attributes={"private": node.get("isPrivate"), "archived": node.get("isArchived"),
                               "parent": org.uid})
    return [res]


def transform_collaborator(org: Org, repo: str, edge: dict[str, Any]) -> Grant:
    login = edge["node"]["login"]
    return Grant(SYSTEM, org.source, org.account_uid(login), org.repo_uid(repo),
                 permission_name(edge.get("permission")), "direct")


def _deploy_key_native_id(org: Org, repo: str, key: str | None, fallback: Any) -> str:
    fp = ssh_fingerprint(key)
    return f"{org.repo_id(repo)}/keys/{fp or fallback}"


def transform_deploy_key(org: Org, repo: str, key: dict[str, Any], now: datetime) -> Credential:
    """A deploy key, from REST (``read_only``, ``added_by``, ``last_used``) or, when REST
    is not allowed, from GraphQL (``readOnly``, no adder). Its holder is the account that
    added it, when that is a user of this org."""
    rest = "read_only" in key
    read_only = bool(key.get("read_only") if rest else key.get("readOnly"))
    added_by = key.get("added_by") if rest else None
    fp = ssh_fingerprint(key.get("key"))
    attrs: dict[str, Any] = {"read_only": read_only, "added_by": added_by, "repo": org.repo_id(repo),
                             "verified": key.get("verified"), "parent": org.repo_uid(repo),
                             "key_id": key.get("id")}  # its REST id: what a responder deletes
    if not rest:
        attrs["added_by_unknown"] = True
    enabled = key.get("enabled", True)
    return Credential(
        SYSTEM, org.source, _deploy_key_native_id(org, repo, key.get("key"), key.get("id")),
        "deploy_key", holder=org.account_uid(added_by) if added_by and added_by != org.login else None,
        name=str(key.get("title") or ""), scopes=["read"] if read_only else ["read", "write"],
        status="active" if enabled is not False else "inactive",
        created_at=parse_time(key.get("created_at") or key.get("createdAt")),
        last_used_at=parse_time(key.get("last_used")), fingerprint=fp, attributes=attrs)


def transform_team(org: Org, node: dict[str, Any], members: list[dict[str, Any]],
                   repos: list[dict[str, Any]]) -> list[Record]:
    """A team is a group resource; its members hold the team's permission on each of its
    repositories (Grant via "team")."""
    slug = node["slug"]
    out: list[Record] = [Resource(SYSTEM, org.source, f"{org.login}/teams/{slug}", "group",
                                  name=node.get("name") or slug,
                                  attributes={"team": True, "privacy": node.get("privacy"),
                                              "parent": org.uid})]
    for m in members:
        login = m["node"]["login"]
        out.append(Grant(SYSTEM, org.source, org.account_uid(login), org.team_uid(slug),
                         str(m.get("role") or "member").lower(), "direct"))
        for r in repos:
            out.append(Grant(SYSTEM, org.source, org.account_uid(login),
                             org.repo_uid(r["node"]["name"]), permission_name(r.get("permission")),
                             "team", attributes={"team": slug}))
    return out


CREDENTIAL_TYPES = {"personal access token": "pat", "ssh key": "ssh_key",
                    "oauth app token": "oauth_grant", "github app token": "oauth_grant"}


def transform_credential_authorization(org: Org, item: dict[str, Any], fp: Fingerprinter,
                                       now: datetime) -> Credential:
    """SAML SSO credential authorizations (Enterprise Cloud). The token's last eight
    characters identify it; we keep only a keyed digest of them (``last8:...``, as
    ``Fingerprinter.last8``) so a token found in code correlates without being stored."""
    kind = CREDENTIAL_TYPES.get(str(item.get("credential_type") or "").lower(), "pat")
    expires = parse_time(item.get("authorized_credential_expires_at"))
    last8 = item.get("token_last_eight")
    fingerprint = item.get("token_last_eight_fp") or (fp.last8(str(last8)) if last8 else None) \
        or item.get("fingerprint") or None
    hint = item.get("token_hint") or (f"…{str(last8)[-4:]}" if last8 else None)  # DESIGN: last 4 at most
    attrs: dict[str, Any] = {"credential_authorization": True,
                             "credential_type": item.get("credential_type"),
                             "authorized_credential_id": item.get("authorized_credential_id")}
    if kind in ("pat", "oauth_grant") and expires is None:
        attrs["never_expires"] = True
    status = "expired" if expires and expires <= now else "active"
    return Credential(
        SYSTEM, org.source, f"credential-authorization:{item['credential_id']}", kind,
        holder=org.account_uid(item["login"]) if item.get("login") else None,
        name=str(item.get("authorized_credential_title") or item.get("credential_type") or ""),
        scopes=[str(s) for s in item.get("scopes") or []], status=status,
        created_at=parse_time(item.get("credential_authorized_at")),
        last_used_at=parse_time(item.get("credential_accessed_at")), expires_at=expires,
        fingerprint=fingerprint, hint=hint, attributes=attrs)


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


def scrub_hook_urls(body: Any) -> Any:
    """A body rewriter: a webhook's ``config.url`` as ``safe_url`` gives it (its userinfo,
    query and token-like path segments are credentials), before the body is cached."""
    if not isinstance(body, list):
        return body
    return [{**item, "config": {**item["config"], "url": safe_url(item["config"]["url"])}}
            if isinstance(item, dict) and isinstance(item.get("config"), dict)
            and isinstance(item["config"].get("url"), str) else item for item in body]


def scrub_last_eight(fp: Fingerprinter) -> Callable[[Any], Any]:
    """A body rewriter: ``token_last_eight`` -> its keyed digest (``token_last_eight_fp``),
    before the body is cached or read, so no part of a token is kept anywhere."""
    def scrub(body: Any) -> Any:
        if not isinstance(body, list):
            return body
        out = []
        for item in body:
            if isinstance(item, dict) and item.get("token_last_eight"):
                last8 = str(item["token_last_eight"])
                item = {**item, "token_last_eight": None, "token_last_eight_fp": fp.last8(last8),
                        "token_hint": f"…{last8[-4:]}"}
            out.append(item)
        return out
    return scrub


def transform_fine_grained_pat(org: Org, item: dict[str, Any], now: datetime) -> Credential:
    """A fine-grained PAT granted access to the org (listed only to a GitHub App)."""
    perms = item.get("permissions") or {}
    scopes = [f"{area}:{k}:{v}" for area, d in perms.items() if isinstance(d, dict) for k, v in d.items()]
    expires = parse_time(item.get("token_expires_at"))
    attrs: dict[str, Any] = {"fine_grained": True, "grant_id": item.get("id"),
                             "repository_selection": item.get("repository_selection")}
    if expires is None:
        attrs["never_expires"] = True
    expired = bool(item.get("token_expired")) or (expires is not None and expires <= now)
    owner = (item.get("owner") or {}).get("login")
    return Credential(
        SYSTEM, org.source, f"fine-grained-pat:{item['token_id']}", "pat",
        holder=org.account_uid(owner) if owner else None, name=str(item.get("token_name") or ""),
        scopes=scopes, status="expired" if expired else "active",
        created_at=parse_time(item.get("access_granted_at")),
        last_used_at=parse_time(item.get("token_last_used_at")), expires_at=expires,
        attributes=attrs)


def transform_installation(org: Org, item: dict[str, Any]) -> Resource:
    return Resource(SYSTEM, org.source, f"installation:{item['id']}", "app",
                    name=str(item.get("app_slug") or item.get("app_id") or item["id"]),
                    updated_at=parse_time(item.get("updated_at")),
                    attributes={"app_id": item.get("app_id"), "permissions": item.get("permissions") or {},
                                "repository_selection": item.get("repository_selection"),
                                "suspended_at": item.get("suspended_at"), "parent": org.uid})


def transform_secret(org: Org, item: dict[str, Any], parent_id: str, parent_uid: str) -> Resource:
    """An Actions secret: name and dates only (the API never gives values)."""
    return Resource(SYSTEM, org.source, f"{parent_id}/actions/secrets/{item['name']}", "ci_secret",
                    name=str(item["name"]), updated_at=parse_time(item.get("updated_at")),
                    attributes={"parent": parent_uid, "created_at": item.get("created_at"),
                                "visibility": item.get("visibility")})


def transform_hook(org: Org, item: dict[str, Any], parent_id: str, parent_uid: str) -> Resource:
    cfg = item.get("config") or {}
    return Resource(SYSTEM, org.source, f"{parent_id}/hooks/{item['id']}", "webhook",
                    name=safe_url(cfg["url"]) if isinstance(cfg.get("url"), str) else str(item.get("name") or item["id"]),
                    updated_at=parse_time(item.get("updated_at")),
                    attributes={"parent": parent_uid, "active": item.get("active"),
                                "events": item.get("events") or [],
                                "url": safe_url(cfg["url"]) if isinstance(cfg.get("url"), str) else None,
                                "insecure_ssl": cfg.get("insecure_ssl")})


def transform_runner(org: Org, item: dict[str, Any]) -> Resource:
    return Resource(SYSTEM, org.source, f"{org.login}/runners/{item['id']}", "runner",
                    name=str(item.get("name") or item["id"]),
                    attributes={"parent": org.uid, "os": item.get("os"), "status": item.get("status"),
                                "labels": [l.get("name") for l in item.get("labels") or [] if isinstance(l, dict)]})


def transform_user_key(org: Org, login: str, item: dict[str, Any]) -> Credential:
    fp = ssh_fingerprint(item.get("key"))
    return Credential(SYSTEM, org.source, f"{login}/keys/{item['id']}", "ssh_key",
                      holder=org.account_uid(login), name=str(item.get("title") or f"key {item['id']}"),
                      created_at=parse_time(item.get("created_at")),
                      last_used_at=parse_time(item.get("last_used")), fingerprint=fp,
                      attributes={"public": True})


# --- the collector ---------------------------------------------------------------------------------

@dataclass
class OrgState:
    """What the bulk pass learned that the deep pass needs (no second listing)."""

    repos: list[str] = field(default_factory=list)
    writers: dict[str, set[str]] = field(default_factory=dict)  # repo -> logins with admin/maintain/write
    admins: set[str] = field(default_factory=set)  # org owners: admin on every repo
    logins: set[str] = field(default_factory=set)  # members and outside collaborators
    secrets_listed: set[str] = field(default_factory=set)
    hidden: list[str] = field(default_factory=list)  # repos whose collaborators we may not see


class GitHubCollector(Collector):
    name = "github"
    layer = "code-hosting"
    options = {
        "org": Option(str, required=True),
        "token": Option(str, secret=True),
        "base_url": Option(str, default="https://api.github.com"),
        "app_id": Option((int, str)),
        "private_key": Option(str, secret=True),
        "installation_id": Option(int),
        "secrets": Option(str, default="scoped", choices=("scoped", "all")),
        "enterprise": Option(str),  # the enterprise slug: its SAML IdP, where the org has none
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self.org = Org(config["org"])
        self.state: OrgState | None = None
        self.api: GitHubApi | None = None
        self.malformed = 0
        self.scoped = False  # a targeted verify's narrowed pass ran
        self.org_saml: bool | None = None  # the org has its own SAML IdP (None: none seen)

    def describe(self) -> str:
        return self.org.source

    # -- client --
    def _auth(self) -> Any:
        from github import Auth
        if self.config.get("token"):
            return Auth.Token(self.config["token"])
        app_id, key, inst = (self.config.get(k) for k in ("app_id", "private_key", "installation_id"))
        if app_id and key and inst:
            pem = key if key.lstrip().startswith("-----BEGIN") else \
                (self.ctx.base_dir / Path(key).expanduser()).read_text()
            return Auth.AppAuth(app_id, pem).get_installation_auth(int(inst))
        raise CollectorError("no credentials: set token, or app_id + private_key + installation_id")

    def client(self) -> GitHubApi:
        if self.api is None:
            from github import Github
            gh = Github(auth=self._auth(), base_url=self.config.get("base_url") or "https://api.github.com",
                        timeout=max(1, round(self.ctx.timeout_s)), retry=None, per_page=PAGE,
                        seconds_between_requests=None, seconds_between_writes=None)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.org.login}-{self.config.get('base_url')}")
            cache = EtagCache(Path(self.ctx.cache_dir) / f"github-{safe}.json")
            self.api = GitHubApi(gh.requester, cache, self.count_call, self.ctx.max_retries,
                                 getattr(self.ctx, "max_pages", 10_000))
            self.api.max_wait_s = self.ctx.max_wait_s
        return self.api

    def _ok(self, item: Any, *path: str) -> bool:
        """Malformed entries are skipped with a warning and counted; the target they were
        in becomes partial (something there could not be checked)."""
        cur = item
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        if cur in (None, "") or isinstance(cur, (dict, list)):  # missing, or not a value
            self.malformed += 1
            log.warning("github: skipped a malformed entry (missing %s)", ".".join(path))
            return False
        return True

    def _optional(self, sink: Sink, what: str, layer: str, fn: Callable[[], int],
                  graphql: bool = False) -> None:
        """An endpoint the org's plan or the token may not allow: 403/404 is a coverage
        row "skipped" with the reason, and the rest goes on. A SAML block on an optional
        endpoint is skipped too (the core endpoints, if blocked, fail the target). For a
        GraphQL field, "not allowed" is a FORBIDDEN error in the answer; an HTTP 403/404
        on /graphql itself refuses the whole API and fails the target."""
        before = self.calls
        try:
            n = fn()
        except GitHubApiError as exc:
            if graphql or not exc.optional_skip:
                raise
            self.emit_coverage(sink, f"{self.org.login}/{what}", layer, "skipped",
                               error=exc.reason + needs(what), api_calls=self.calls - before)
            return
        except GraphQLError as exc:
            if not (exc.forbidden or exc.saml or exc.insufficient_scopes):
                raise
            self.emit_coverage(sink, f"{self.org.login}/{what}", layer, "skipped",
                               error=str(exc) + ("" if exc.missing_scopes else needs(what)),
                               api_calls=self.calls - before)
            return
        log.debug("github %s: %s records", what, n)

    # -- bulk pass --
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        before = self.calls
        if scope is not None and self.collect_scoped(sink, scope):
            return
        org = self.org
        with self.target(sink, org.login) as run:
            run.calls_before = before  # a targeted verify's membership checks belong here
            api = self.client()
            state = OrgState()
            self.malformed = 0
            sink.emit(transform_org(org))
            if scope is not None:
                run.attributes["scoped"] = {"fallback": "an org owner is in scope: owners can read "
                                            "every repository's secrets, so the org is read whole"}

            linked: dict[str, list[str]] = {}  # login -> SAML/SCIM e-mails

            def saml() -> int:
                linked.update(self.get_saml())
                return len(linked)
            self._optional(sink, "saml-identities", self.layer, saml, graphql=True)
            if self.org_saml is None and self.config.get("enterprise"):
                def enterprise_saml() -> int:
                    linked.update(self.get_enterprise_saml())
                    return len(linked)
                self._optional(sink, "enterprise-saml-identities", self.layer, enterprise_saml,
                               graphql=True)
            n_members = self.load_members(sink, state, linked)
            self._optional(sink, "outside_collaborators", self.layer,
                           lambda: self.load_outside(sink, state, linked))
            self.load_repos(sink, state)
            self.load_teams(sink, state)
            self._optional(sink, "invitations", self.layer, lambda: self.load_invitations(sink))
            self._optional(sink, "failed_invitations", self.layer,
                           lambda: self.load_invitations(sink, failed=True))
            self._optional(sink, "credential-authorizations", self.layer,
                           lambda: self.load_credential_authorizations(sink))
            self._optional(sink, "personal-access-tokens", self.layer,
                           lambda: self.load_fine_grained(sink))
            self._optional(sink, "installations", self.layer, lambda: self.load_installations(sink))
            self._optional(sink, "hooks", self.layer, lambda: self.load_org_hooks(sink))
            if state.hidden:
                run.partial(f"collaborators not visible on {len(state.hidden)} repositories "
                            f"(e.g. {state.hidden[0]}): the token needs push access or org owner")
            if self.malformed:
                run.partial(f"{self.malformed} malformed entries skipped")
            run.attributes.update({"members": n_members, "repos": len(state.repos),
                                   "calls": api.stats.as_dict()})
            self.state = state

        if self.state is None:  # the org could not be read: nor could its CI secrets
            self.emit_coverage(sink, f"{org.login}:actions", "ci-cd", "failed",
                               error="not collected: the organization could not be read")
        else:
            with self.target(sink, f"{org.login}:actions", layer="ci-cd") as run:
                self.malformed = 0
                self._optional(sink, "actions/secrets", "ci-cd", lambda: self.load_org_secrets(sink))
                self._optional(sink, "actions/runners", "ci-cd", lambda: self.load_runners(sink))
                if self.config.get("secrets") == "all":
                    self.load_repo_secrets(sink, self.state.repos, run)
                if self.malformed:
                    run.partial(f"{self.malformed} malformed entries skipped")
        self._finish(sink)

    # -- targeted verify (verify --live) --
    def targeted_logins(self, scope: Scope) -> set[str]:
        """Her logins on GitHub: accounts the last scans linked to her in this org, and
        her ``github:`` aliases."""
        prefix = self.org.source + "|"
        logins = {uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix)}
        logins |= scope.logins_for(SYSTEM) | scope.logins_for(self.org.source)
        return {str(l) for l in logins if l and not str(l).startswith("invitation:")}

    def known_objects(self, scope: Scope) -> tuple[list[str], list[str]]:
        """(repositories she was granted directly, repositories holding deploy keys she
        added), as the last scans saw them: what a targeted verify re-checks, because
        GitHub cannot be asked for either by user."""
        prefix = f"{self.org.source}|{self.org.login}/"
        repos = {uid[len(prefix):] for uid in scope.known_resources if uid.startswith(prefix)}
        repos = {r for r in repos if "/" not in r}  # not teams (org/teams/slug)
        keyed = {uid[len(prefix):].split("/keys/", 1)[0] for uid in scope.known_credentials
                 if uid.startswith(prefix) and "/keys/" in uid}
        return sorted(repos), sorted(keyed)

    def membership(self, login: str) -> dict[str, Any] | None:
        """GET /orgs/{org}/memberships/{username}: None when she is not a member."""
        try:
            data, _ = self.client().get(f"/orgs/{self.org.login}/memberships/{login}")
        except GitHubApiError as exc:
            if exc.status == 404:
                return None
            raise
        return data if isinstance(data, dict) else None

    def collect_scoped(self, sink: Sink, scope: Scope) -> bool:
        """A targeted verify: ask GitHub about her only. Returns False (the caller then
        reads the org whole) when one of her logins is an org owner: an owner can read
        every repository's secrets, which only the whole org's listing shows.

        Asked per login: her membership (REST), her SAML identity and her teams with
        their repositories (one GraphQL query), her credential authorizations and
        fine-grained tokens (filtered by login). Re-checked from the last scans: the
        repositories she was a direct collaborator on (one GraphQL query each) and the
        repositories holding deploy keys she added (their REST key list). Listed and
        kept only for her: outside collaborators, invitations (no per-user filter;
        a page or two). Not seen (said in the coverage row): a repository granted to her
        directly, or a deploy key she added to a repository, since the last full scan."""
        org = self.org
        logins = sorted(self.targeted_logins(scope))
        emails = {e.casefold() for e in scope.emails}
        members: dict[str, dict[str, Any]] = {}
        before = self.calls
        try:
            for login in logins:
                m = self.membership(login)
                if m and m.get("state") == "active":
                    if str(m.get("role")) == "admin":
                        return False  # an owner: the org is read whole
                    members[login] = m
        except Exception:  # noqa: BLE001 - the full pass meets the same error and records it
            return False
        with self.target(sink, org.login) as run:
            run.calls_before = before
            api = self.client()
            state = OrgState()
            self.malformed = 0
            sink.emit(transform_org(org))
            linked: dict[str, list[str]] = {}
            self.org_saml = None
            for login in logins:
                self.load_user_in_org(sink, state, login, linked)
            if logins and self.org_saml is None and self.config.get("enterprise"):
                def enterprise_saml() -> int:
                    ent = self.get_enterprise_saml()
                    linked.update({k: v for k, v in ent.items() if k in set(logins)})
                    return len(linked)
                self._optional(sink, "enterprise-saml-identities", self.layer, enterprise_saml,
                               graphql=True)
            for login, m in members.items():
                user = m.get("user") or {}
                edge = {"role": str(m.get("role") or "member").upper(), "hasTwoFactorEnabled": None,
                        "node": {"login": login, "name": user.get("name"), "email": user.get("email")}}
                sink.emit_all(transform_member(org, edge, linked))
                state.logins.add(login)
            wanted = set(logins)

            def outside() -> int:
                n = 0
                for user in api.get_all(f"/orgs/{org.login}/outside_collaborators"):
                    if self._ok(user, "login") and user["login"] in wanted - state.logins:
                        sink.emit(transform_outside_collaborator(org, user, linked))
                        state.logins.add(user["login"])
                        n += 1
                return n
            self._optional(sink, "outside_collaborators", self.layer, outside)
            direct, keyed = self.known_objects(scope)
            for name in direct:
                for login in logins:
                    self.load_repo_access(sink, state, name, login)
            if keyed:
                self.load_deploy_keys(sink, [(name, []) for name in keyed], added_by=wanted)

            def invitations(failed: bool) -> int:
                path = "failed_invitations" if failed else "invitations"
                n = 0
                for inv in api.get_all(f"/orgs/{org.login}/{path}"):
                    if self._ok(inv, "id") and (inv.get("login") in wanted or
                                                str(inv.get("email") or "").casefold() in emails):
                        sink.emit(transform_invitation(org, inv, failed))
                        n += 1
                return n
            self._optional(sink, "invitations", self.layer, lambda: invitations(False))
            self._optional(sink, "failed_invitations", self.layer, lambda: invitations(True))

            def authorizations() -> int:
                n = 0
                for login in logins:
                    for item in api.get_all(f"/orgs/{org.login}/credential-authorizations",
                                            params={"login": login},
                                            scrub=scrub_last_eight(self.ctx.fingerprinter)):
                        if self._ok(item, "credential_id") and item.get("login") == login:
                            sink.emit(transform_credential_authorization(org, item, self.ctx.fingerprinter,
                                                                         self.ctx.now))
                            n += 1
                return n
            self._optional(sink, "credential-authorizations", self.layer, authorizations)

            def fine_grained() -> int:
                n = 0
                # ``owner[]`` once per login (at most 10 a request, GitHub's limit): one
                # comma-joined value names a login nobody has, and the listing comes back empty
                items: list[dict[str, Any]] = []
                for i in range(0, len(logins), 10):
                    items += api.get_all(f"/orgs/{org.login}/personal-access-tokens",
                                         params={"owner[]": logins[i:i + 10]})
                for item in items:
                    if self._ok(item, "token_id") and (item.get("owner") or {}).get("login") in wanted:
                        sink.emit(transform_fine_grained_pat(org, item, self.ctx.now))
                        n += 1
                return n
            if logins:
                self._optional(sink, "personal-access-tokens", self.layer, fine_grained)
            if self.malformed:
                run.partial(f"{self.malformed} malformed entries skipped")
            run.attributes.update({"members": len(members), "repos": len(state.repos),
                                   "calls": api.stats.as_dict()})
            run.attributes["scoped"] = {
                "logins": logins, "direct_repos_rechecked": direct, "deploy_key_repos_rechecked": keyed,
                "not_checked": "repositories granted to her directly, and deploy keys she added, "
                               "since the last full scan; org webhooks, app installations, runners "
                               "(not a person's)"}
            self.state = state
            self.scoped = True
        if self.state is not None:
            with self.target(sink, f"{org.login}:actions", layer="ci-cd") as run:
                # org-level secrets are readable by org owners only, and none is in scope
                # (an owner makes this collector read the org whole)
                run.attributes["scoped"] = {"org_secrets": "not listed: no org owner in scope"}
        else:
            self.emit_coverage(sink, f"{org.login}:actions", "ci-cd", "failed",
                               error="not collected: the organization could not be read")
        self._finish(sink)
        return True

    def load_user_in_org(self, sink: Sink, state: OrgState, login: str,
                         linked: dict[str, list[str]]) -> None:
        """Her SAML identity and her teams (with her team role and the teams' repositories)."""
        api = self.client()
        seen_repos = set(state.repos)
        after = None
        for _ in bounded_pages(api.max_pages, "GraphQL UserInOrg"):
            data = api.graphql(Q_USER_IN_ORG, {"org": self.org.login, "login": login,
                                               "first": PAGE, "after": after})
            orgdata = data.get("organization") or {}
            if after is None:  # the SAML identity rides along on the first page
                if orgdata.get("samlIdentityProvider") is not None:
                    self.org_saml = True
                idp = orgdata.get("samlIdentityProvider") or {}
                linked.update(transform_saml((idp.get("externalIdentities") or {}).get("edges") or []))
            conn = orgdata.get("teams") or {}
            for node in conn.get("nodes") or []:
                if not self._ok(node, "slug"):
                    continue
                slug = node["slug"]
                mine = [m for m in (node.get("members") or {}).get("edges") or []
                        if self._ok(m, "node", "login") and m["node"]["login"] == login]
                repos = list((node.get("repositories") or {}).get("edges") or [])
                rp = (node.get("repositories") or {}).get("pageInfo") or {}
                if rp.get("hasNextPage"):
                    repos += self._drain(Q_TEAM_REPOS, {"org": self.org.login, "slug": slug},
                                         ["organization", "team", "repositories"], "edges", rp["endCursor"])
                repos = [r for r in repos if self._ok(r, "node", "name")]
                if not mine:
                    continue
                sink.emit_all(transform_team(self.org, node, mine, repos))
                for r in repos:
                    name = r["node"]["name"]
                    if name not in seen_repos:
                        seen_repos.add(name)
                        state.repos.append(name)
                        sink.emit_all(transform_repo(self.org, r["node"]))
                    if permission_name(r.get("permission")) in WRITE_PERMISSIONS:
                        state.writers.setdefault(name, set()).add(login)
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor") or info.get("endCursor") == after:
                break
            after = info["endCursor"]

    def load_repo_access(self, sink: Sink, state: OrgState, name: str, login: str) -> None:
        """One repository she was a direct collaborator on: is she still?"""
        try:
            data = self.client().graphql(Q_REPO_ACCESS, {"org": self.org.login, "name": name,
                                                         "login": login})
        except GraphQLError as exc:
            if all(e.get("type") == "NOT_FOUND" for e in exc.errors):
                return  # the repository is gone, and her access with it
            raise
        node = data.get("repository") or {}
        if not self._ok(node, "name"):
            return
        if name not in state.repos:
            state.repos.append(name)
            sink.emit_all(transform_repo(self.org, node))
        for edge in (node.get("collaborators") or {}).get("edges") or []:
            if self._ok(edge, "node", "login") and edge["node"]["login"] == login:
                g = transform_collaborator(self.org, name, edge)
                sink.emit(g)
                if g.permission in WRITE_PERMISSIONS:
                    state.writers.setdefault(name, set()).add(login)

    def _finish(self, sink: Sink) -> None:
        if self.api is not None:
            if self.api.cache is not None:
                self.api.cache.save()

    def get_saml(self) -> dict[str, list[str]]:
        """The org's SAML identities; ``org_saml`` says whether the org has an IdP at all."""
        edges: list[dict[str, Any]] = []
        self.org_saml = None
        for conn in self.client().connection(Q_SAML, {"org": self.org.login},
                                             ["organization", "samlIdentityProvider", "externalIdentities"]):
            self.org_saml = True
            edges.extend(conn.get("edges") or [])
        return transform_saml(edges)

    def get_enterprise_saml(self) -> dict[str, list[str]]:
        """The enterprise's SAML identities (SSO configured on the enterprise account)."""
        edges: list[dict[str, Any]] = []
        path = ["enterprise", "ownerInfo", "samlIdentityProvider", "externalIdentities"]
        for conn in self.client().connection(Q_ENTERPRISE_SAML, {"slug": self.config["enterprise"]}, path):
            edges.extend(conn.get("edges") or [])
        return transform_saml(edges)

    def load_members(self, sink: Sink, state: OrgState, linked: dict[str, list[str]]) -> int:
        """Members and roles. Their public e-mails need ``user:email``/``read:user``; a
        token without it (GitHub: INSUFFICIENT_SCOPES on ``User.email``) reads them without
        e-mails and the row ``member-emails`` says "skipped" with the scope, rather than the
        whole org failing."""
        before = self.calls
        try:
            return self._load_members(sink, state, linked, Q_MEMBERS)
        except GraphQLError as exc:
            if not exc.insufficient_scopes:
                raise
            self.emit_coverage(sink, f"{self.org.login}/member-emails", self.layer, "skipped",
                               error=f"{exc}: members are read without their public e-mails",
                               api_calls=self.calls - before)
        return self._load_members(sink, state, linked, Q_MEMBERS_NO_EMAIL)

    def _load_members(self, sink: Sink, state: OrgState, linked: dict[str, list[str]], query: str) -> int:
        n = 0
        for conn in self.client().connection(query, {"org": self.org.login},
                                             ["organization", "membersWithRole"]):
            for edge in conn.get("edges") or []:
                if not self._ok(edge, "node", "login"):
                    continue
                sink.emit_all(transform_member(self.org, edge, linked))
                login = edge["node"]["login"]
                state.logins.add(login)
                if str(edge.get("role") or "").upper() == "ADMIN":
                    state.admins.add(login)
                n += 1
        return n

    def load_outside(self, sink: Sink, state: OrgState, linked: dict[str, list[str]]) -> int:
        n = 0
        for user in self.client().get_all(f"/orgs/{self.org.login}/outside_collaborators"):
            if self._ok(user, "login") and user["login"] not in state.logins:
                sink.emit(transform_outside_collaborator(self.org, user, linked))
                state.logins.add(user["login"])
                n += 1
        return n

    def load_repos(self, sink: Sink, state: OrgState) -> None:
        api = self.client()
        with_keys: list[tuple[str, list[dict[str, Any]]]] = []
        for conn in api.connection(Q_REPOS, {"org": self.org.login}, ["organization", "repositories"]):
            for node in conn.get("nodes") or []:
                if not self._ok(node, "name"):
                    continue
                name = node["name"]
                state.repos.append(name)
                sink.emit_all(transform_repo(self.org, node))
                collab = node.get("collaborators")
                if collab is None:  # the token cannot see this repository's collaborators
                    state.hidden.append(name)
                    collab = {}
                edges = list(collab.get("edges") or [])
                if (collab.get("pageInfo") or {}).get("hasNextPage"):
                    edges += self._drain(Q_REPO_COLLABORATORS, {"org": self.org.login, "name": name},
                                         ["repository", "collaborators"], "edges",
                                         collab["pageInfo"]["endCursor"])
                for edge in edges:
                    if self._ok(edge, "node", "login"):
                        g = transform_collaborator(self.org, name, edge)
                        sink.emit(g)
                        if g.permission in WRITE_PERMISSIONS:
                            state.writers.setdefault(name, set()).add(edge["node"]["login"])
                keys = node.get("deployKeys") or {}
                if keys.get("totalCount"):
                    nodes = list(keys.get("nodes") or [])
                    if (keys.get("pageInfo") or {}).get("hasNextPage"):
                        nodes += self._drain(Q_REPO_DEPLOY_KEYS, {"org": self.org.login, "name": name},
                                             ["repository", "deployKeys"], "nodes",
                                             keys["pageInfo"]["endCursor"])
                    with_keys.append((name, nodes))
        self.load_deploy_keys(sink, with_keys)

    def _drain(self, query: str, variables: dict[str, Any], path: list[str], key: str,
               after: str) -> list[dict[str, Any]]:
        """The rest of a nested connection that had more than 100 items."""
        out: list[dict[str, Any]] = []
        api = self.client()
        for _ in bounded_pages(api.max_pages, f"GraphQL {'/'.join(path)}"):
            data = api.graphql(query, {**variables, "first": PAGE, "after": after})
            conn: Any = data
            for p in path:
                conn = conn.get(p) if isinstance(conn, dict) else None
            if not conn:
                break
            out.extend(conn.get(key) or [])
            info = conn.get("pageInfo") or {}
            nxt = info.get("endCursor") if info.get("hasNextPage") else None
            if not nxt or nxt == after:
                break
            after = nxt
        return out

    def load_deploy_keys(self, sink: Sink, with_keys: list[tuple[str, list[dict[str, Any]]]],
                         added_by: set[str] | None = None) -> None:
        """GraphQL lacks ``added_by`` and ``last_used``: one REST call per repository that
        has keys (a small share of repos); GraphQL's view if REST is not allowed."""
        now = self.ctx.now
        forbidden: list[str] = []
        before = self.calls
        for name, gql_nodes in with_keys:
            try:
                items = self.client().get_all(f"/repos/{self.org.login}/{name}/keys")
            except GitHubApiError as exc:
                if not exc.optional_skip:
                    raise
                forbidden.append(exc.reason)
                items = gql_nodes
            for key in items:
                if self._ok(key, "key") and (added_by is None or key.get("added_by") in added_by):
                    sink.emit(transform_deploy_key(self.org, name, key, now))
        if forbidden:
            self.emit_coverage(sink, f"{self.org.login}/deploy-key-details", self.layer, "skipped",
                               error=f"{len(forbidden)} repositories: {forbidden[0]} (added_by/last_used unknown)",
                               api_calls=self.calls - before)

    def load_teams(self, sink: Sink, state: OrgState) -> None:
        for conn in self.client().connection(Q_TEAMS, {"org": self.org.login}, ["organization", "teams"]):
            for node in conn.get("nodes") or []:
                if not self._ok(node, "slug"):
                    continue
                slug = node["slug"]
                members = list((node.get("members") or {}).get("edges") or [])
                mp = (node.get("members") or {}).get("pageInfo") or {}
                if mp.get("hasNextPage"):
                    members += self._drain(Q_TEAM_MEMBERS, {"org": self.org.login, "slug": slug},
                                           ["organization", "team", "members"], "edges", mp["endCursor"])
                repos = list((node.get("repositories") or {}).get("edges") or [])
                rp = (node.get("repositories") or {}).get("pageInfo") or {}
                if rp.get("hasNextPage"):
                    repos += self._drain(Q_TEAM_REPOS, {"org": self.org.login, "slug": slug},
                                         ["organization", "team", "repositories"], "edges", rp["endCursor"])
                members = [m for m in members if self._ok(m, "node", "login")]
                repos = [r for r in repos if self._ok(r, "node", "name")]
                sink.emit_all(transform_team(self.org, node, members, repos))
                for r in repos:
                    if permission_name(r.get("permission")) in WRITE_PERMISSIONS:
                        state.writers.setdefault(r["node"]["name"], set()).update(
                            m["node"]["login"] for m in members)

    def load_invitations(self, sink: Sink, failed: bool = False) -> int:
        path = "failed_invitations" if failed else "invitations"
        n = 0
        for inv in self.client().get_all(f"/orgs/{self.org.login}/{path}"):
            if self._ok(inv, "id"):
                sink.emit(transform_invitation(self.org, inv, failed))
                n += 1
        return n

    def load_credential_authorizations(self, sink: Sink) -> int:
        n = 0
        for item in self.client().get_all(f"/orgs/{self.org.login}/credential-authorizations",
                                          scrub=scrub_last_eight(self.ctx.fingerprinter)):
            if self._ok(item, "credential_id"):
                sink.emit(transform_credential_authorization(self.org, item, self.ctx.fingerprinter, self.ctx.now))
                n += 1
        return n

    def load_fine_grained(self, sink: Sink) -> int:
        n = 0
        for item in self.client().get_all(f"/orgs/{self.org.login}/personal-access-tokens"):
            if self._ok(item, "token_id"):
                sink.emit(transform_fine_grained_pat(self.org, item, self.ctx.now))
                n += 1
        return n

    def load_installations(self, sink: Sink) -> int:
        items = self.client().get_all(f"/orgs/{self.org.login}/installations", "installations")
        return sink.emit_all(transform_installation(self.org, i) for i in items if self._ok(i, "id"))

    def load_org_hooks(self, sink: Sink) -> int:
        items = self.client().get_all(f"/orgs/{self.org.login}/hooks", scrub=scrub_hook_urls)
        return sink.emit_all(transform_hook(self.org, i, self.org.login, self.org.uid)
                             for i in items if self._ok(i, "id"))

    def load_org_secrets(self, sink: Sink) -> int:
        items = self.client().get_all(f"/orgs/{self.org.login}/actions/secrets", "secrets")
        return sink.emit_all(transform_secret(self.org, i, self.org.login, self.org.uid)
                             for i in items if self._ok(i, "name"))

    def load_runners(self, sink: Sink) -> int:
        items = self.client().get_all(f"/orgs/{self.org.login}/actions/runners", "runners")
        return sink.emit_all(transform_runner(self.org, i) for i in items if self._ok(i, "id"))

    def load_repo_secrets(self, sink: Sink, repos: Iterable[str], run: Any) -> None:
        """Actions secrets per repository (names and dates only). A 403/404 on one repo
        (Actions disabled, no admin right) is counted, and the target says so."""
        assert self.state is not None
        refused: list[str] = []
        for name in repos:
            if name in self.state.secrets_listed:
                continue
            try:
                items = self.client().get_all(f"/repos/{self.org.login}/{name}/actions/secrets", "secrets")
            except GitHubApiError as exc:
                if not exc.optional_skip:
                    raise
                refused.append(f"{name}: {exc.reason}")
                continue
            self.state.secrets_listed.add(name)
            sink.emit_all(transform_secret(self.org, i, self.org.repo_id(name), self.org.repo_uid(name))
                          for i in items if self._ok(i, "name"))
        if refused:
            run.partial(f"Actions secrets not readable on {len(refused)} repositories ({refused[0]})")

    # -- deep pass --
    def scoped_logins(self, scope: Scope) -> set[str]:
        """This org's logins among the accounts the deep pass is about."""
        assert self.state is not None
        prefix = self.org.source + "|"
        logins = {uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix)}
        logins |= scope.logins_for(SYSTEM) | scope.logins_for(self.org.source)
        return {l for l in logins if l in self.state.logins}

    def scoped_repos(self, logins: set[str]) -> list[str]:
        """Repositories a scoped account can administer or write (org owners: all)."""
        assert self.state is not None
        if logins & self.state.admins:
            return list(self.state.repos)
        return [r for r in self.state.repos if self.state.writers.get(r, set()) & logins]

    def deepen(self, sink: Sink, scope: Scope) -> None:
        if self.state is None:
            return  # the bulk pass failed; its coverage row already says so
        org = self.org
        logins = self.scoped_logins(scope)
        if not logins:
            return
        with self.target(sink, f"{org.login}:ssh-keys") as run:
            self.malformed = 0
            for login in sorted(logins):
                try:
                    items = self.client().get_all(f"/users/{login}/keys")
                except GitHubApiError as exc:
                    if not exc.optional_skip:
                        raise
                    run.partial(f"{login}: {exc.reason}")
                    continue
                sink.emit_all(transform_user_key(org, login, i) for i in items if self._ok(i, "id"))
            if self.malformed:
                run.partial(f"{self.malformed} malformed entries skipped")
            run.attributes["accounts"] = len(logins)
        repos = self.scoped_repos(logins)
        with self.target(sink, f"{org.login}:repo-secrets", layer="ci-cd") as run:
            self.malformed = 0
            self.load_repo_secrets(sink, repos, run)
            refused = 0
            if self.scoped:  # targeted verify: what decides her verdict, no more
                run.attributes["not_checked"] = ("repository webhooks (no residual-access rule "
                                                 "reads them; a full scan lists them)")
            for name in ([] if self.scoped else repos):
                try:
                    items = self.client().get_all(f"/repos/{org.login}/{name}/hooks", scrub=scrub_hook_urls)
                except GitHubApiError as exc:
                    if not exc.optional_skip:
                        raise
                    refused += 1
                    continue
                sink.emit_all(transform_hook(org, i, org.repo_id(name), org.repo_uid(name))
                              for i in items if self._ok(i, "id"))
            if refused:
                self.emit_coverage(sink, f"{org.login}/repo-hooks", "ci-cd", "skipped",
                                   error=f"webhooks not readable on {refused} repositories")
            if self.malformed:
                run.partial(f"{self.malformed} malformed entries skipped")
            run.attributes["repos"] = len(repos)
        self._finish(sink)

"""GitLab (gitlab.com or self-managed): who can still get in, and with what.

Why each part is collected:
- users and their state: GitLab keeps a leaver's account (``blocked``, ``deactivated``,
  ``banned``...) and a ``deactivated`` one comes back by merely signing in;
- GitLab identities (SAML/LDAP ``extern_uid``): the strongest link from a username to a
  corporate e-mail (``attributes.linked_emails`` for resolve);
- group and project members, inherited ones included (``members/all``): what a leaver
  could read, CI variables among it;
- personal access tokens (admin listing), impersonation tokens, project and group access
  tokens (bot users), deploy tokens and deploy keys, users' SSH keys: credentials that
  keep working when nobody remembers them;
- CI/CD variables (ci-cd layer): keys and flags; values are fingerprinted in memory and
  scanned for known credential formats, never stored;
- pipeline schedules (ci-cd): they run as their owner, so a leaver's schedule keeps
  acting as the leaver;
- runners (ci-cd): ``contacted_at`` tells a live runner from a forgotten one;
- audit events (Premium, admin; optional): who created a token or key, and when a CI
  variable last changed. GitLab's variables API has no ``updated_at``: where audit
  events name the variable, ``Resource.updated_at`` is the newest change event;
  otherwise it is None and ``attributes.rotation`` is ``"unknown"``.

Two passes (DESIGN.md): the bulk pass lists the instance per group and project; the
deep pass asks, per account in scope (leavers, unowned), what GitLab gives only per user
(SSH keys, impersonation tokens).

Every request goes through ``_get``: counted, read-only (HTTP GET), retried on 429/5xx
with bounded backoff that honours ``Retry-After`` (through ``scanner.core.http.sleep``).
python-gitlab's own retry loop is switched off so that it cannot sleep behind our back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator
from urllib.parse import quote, urlparse

import gitlab
import requests
from scanner.core import http
from gitlab.exceptions import GitlabError

from collectors.base import Collector, Scope, TargetRun
from collectors.gitlab import SYSTEMS
from collectors.gitlab.transform import AuditIndex, SYSTEM, check_record, transform_deploy_key, transform_deploy_token, transform_invitation, transform_member, transform_namespace, transform_project, transform_runner, transform_schedule, transform_ssh_key, transform_token, transform_user, transform_variable
from scanner.core.errors import CollectorError, safe_error
from scanner.core.model import Account, make_uid
from scanner.core.options import Option
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.gitlab")

PER_PAGE = 100
AUDIT_DAYS = 365  # how far back audit events are read (attribution, variable changes)
RETRYABLE = {429, 500, 502, 503, 504}
# The role (with a read_api token) each part needs (docs/permissions/gitlab.md), named in
# its "skipped" row: GitLab's 403 does not say it.
NEEDS = {
    "users": "an administrator (with the admin_mode scope where Admin Mode is on)",
    "audit events": "an administrator, Premium or Ultimate",
    "personal access tokens": "an administrator, or the top-level group's credentials inventory",
    "service accounts": "an administrator",
    "runners": "an administrator",
    "impersonation tokens": "an administrator",
    "members": "Guest",
    "invitations": "Maintainer",
    "project access tokens": "Maintainer",
    "group access tokens": "Owner",
    "deploy tokens": "Maintainer",
    "deploy keys": "Maintainer",
    "CI/CD variables": "Maintainer (groups: Owner or Maintainer)",
    "pipeline schedules": "Developer",
    "credentials inventory of personal access tokens": "Owner of the top-level group, Ultimate",
    "credentials inventory of access tokens": "Owner of the top-level group, Ultimate",
    "credentials inventory of SSH keys": "Owner of the top-level group, Ultimate",
}


# --- the collector ----------------------------------------------------------------------


class MalformedPage(Exception):
    """A page that is not the JSON list GitLab documents."""


@dataclass
class _Place:
    """A group or project being read, with what the per-place endpoints need."""

    kind: str  # group / project
    id: int
    path: str
    uid: str
    ancestors: list[str]  # full paths of enclosing groups, nearest first


class GitLabCollector(Collector):
    name = "gitlab"
    layer = SYSTEMS["gitlab"]
    options = {
        "url": Option(str, required=True),
        "token": Option(str, required=True, secret=True),
        "groups": Option(list, default=[], item_type=str),
        "admin": Option((bool,), default=None),
    }
    max_pages = 1000  # per listing; beyond it the listing is cut and the target partial

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        parsed = urlparse(config["url"])
        self.host = parsed.netloc or config["url"]
        self.source = f"{SYSTEM}:{self.host}"
        self.gl: gitlab.Gitlab | None = None
        self.admin = False
        self._last_headers: dict[str, str] = {}
        self._users: dict[str, Account] = {}  # username -> account
        self._user_ids: dict[str, int] = {}
        self._username_of: dict[int, str] = {}
        self._places: list[_Place] = []
        self._members: dict[str, dict[str, int]] = {}  # place path -> {username: level}
        self._seen_tokens: set[int] = set()
        self._audit = AuditIndex()
        self._skips: dict[tuple[str, str], list[str]] = {}
        self._malformed = 0
        self._service_names: set[str] = set()
        self._authenticated = False
        self._discovered = False
        self._no_admin_mode = False  # a non-admin view from a token without ``admin_mode``

    def describe(self) -> str:
        return self.source

    # --- HTTP ---------------------------------------------------------------------------
    def _connect(self) -> gitlab.Gitlab:
        gl = gitlab.Gitlab(self.config["url"], private_token=self.config["token"],
                           timeout=self.ctx.timeout_s, retry_transient_errors=False,
                           per_page=PER_PAGE,  # PRIVATE-TOKEN: never to another origin
                           session=http.OriginBoundSession(self.config["url"], "gitlab"))
        gl.session.hooks["response"].append(self._remember)
        return gl

    def _remember(self, resp: requests.Response, *a: Any, **kw: Any) -> None:
        self._last_headers = dict(resp.headers)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        """One GET, counted; 429/5xx and dropped connections retried with bounded backoff
        honouring Retry-After."""
        assert self.gl is not None

        def get() -> requests.Response:
            self.count_call()
            return self.gl.http_request("get", path, query_data=params or {},
                                        obey_rate_limit=False, retry_transient_errors=False)

        def retryable(exc: BaseException) -> bool:
            return (isinstance(exc, GitlabError) and exc.response_code in RETRYABLE) or \
                isinstance(exc, (requests.ConnectionError, requests.Timeout))

        def wait_for(exc: BaseException, delay: float) -> float:
            if isinstance(exc, GitlabError):
                return http.retry_after_seconds(self._last_headers.get("Retry-After"), delay, cap=120.0)
            return delay

        return http.call_with_retries(get, self.ctx.max_retries, retryable=retryable, wait_for=wait_for)

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        resp = self._get(path, params)
        try:
            return resp.json()
        except ValueError:
            raise MalformedPage(f"{path}: response is not JSON") from None

    def _pages(self, path: str, params: dict[str, Any] | None = None,
               keyset: bool = False) -> Iterator[dict[str, Any]]:
        """Every item of a paginated listing, 100 to a page. Offset pagination follows
        X-Next-Page; keyset pagination (``keyset=True``: GitLab caps offsets at 50,000
        rows on /projects) and proxies that strip the X- headers follow the Link
        header's rel=next, which must stay on the configured host (the token goes with
        every request)."""
        query: dict[str, Any] = {**(params or {}), "per_page": PER_PAGE}
        query.update({"pagination": "keyset", "order_by": "id", "sort": "asc"} if keyset else {"page": 1})
        target: str = path
        for n in range(1, self.max_pages + 1):
            resp = self._get(target, query)
            try:
                data = resp.json()
            except ValueError:
                raise MalformedPage(f"{path}: page {n} is not JSON") from None
            if not isinstance(data, list):
                raise MalformedPage(f"{path}: page {n} is not a list")
            for item in data:
                if isinstance(item, dict):
                    yield item
                else:
                    self._bad(f"{path}: non-object item")
            nxt = resp.headers.get("X-Next-Page")
            if nxt is not None and not keyset:
                if not nxt.isdigit() or int(nxt) <= int(query.get("page", 1)):
                    return
                query["page"] = int(nxt)
                continue
            link = (resp.links.get("next") or {}).get("url")
            if not link:
                return
            if urlparse(link).netloc != urlparse(self.config["url"]).netloc:
                raise MalformedPage(f"{path}: next-page link points to another host")
            target, query = link, {}
        raise MalformedPage(f"{path}: more than {self.max_pages} pages, listing cut")

    def _bad(self, what: str) -> None:
        self._malformed += 1
        log.warning("gitlab %s: malformed record skipped (%s)", self.host, what)

    def _each(self, run: TargetRun, layer: str, what: str, where: str, path: str,
              params: dict[str, Any] | None = None, needed: bool = True) -> list[dict[str, Any]] | None:
        """A per-place listing that may be refused: 403/404 is a skipped part (and the
        target partial when the part is ``needed`` for a verdict); any other error makes
        the target partial; either way the scan goes on."""
        try:
            return list(self._pages(path, params))
        except GitlabError as exc:
            code = exc.response_code
            if code in (403, 404):
                reason = f"{code} {'forbidden' if code == 403 else 'not found'}"
                self._skips.setdefault((layer, what), []).append(f"{where} ({reason})")
                if needed:
                    run.partial(f"{what} of {where}: {reason}")
                return None
            run.partial(f"{what} of {where}: {safe_error(exc)}")
        except (MalformedPage, requests.RequestException) as exc:
            run.partial(f"{what} of {where}: {safe_error(exc)}")
        return None

    def _emit_skips(self, sink: Sink, layer: str) -> None:
        for (lay, what), places in sorted(self._skips.items()):
            if lay != layer:
                continue
            del self._skips[(lay, what)]  # each skipped part reported once
            shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
            role = f"; needs {NEEDS[what]}" if what in NEEDS else ""
            self.emit_coverage(sink, f"{self.host}:{what}", layer, "skipped",
                               error=f"{what} not readable with this token: {shown}{role}")

    def _transform(self, fn: Any, *args: Any) -> Any:
        """Apply a transform; a payload it cannot read is skipped and counted."""
        try:
            out = fn(*args)
            for rec in (out if isinstance(out, tuple) else (out,)):
                for r in (rec if isinstance(rec, list) else [rec]):
                    if r is not None:
                        check_record(r)
            return out
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._bad(f"{getattr(fn, '__name__', 'transform')}: {exc.__class__.__name__}")
            return None

    # --- bulk pass ------------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        self._scope = scope
        with self.target(sink, self.host, layer="code-hosting") as run:
            self._collect_code_hosting(sink, run)
            if self._malformed:
                run.attributes["malformed"] = self._malformed
                run.partial(f"{self._malformed} malformed records skipped")
        self._emit_skips(sink, "code-hosting")
        malformed_before = self._malformed
        with self.target(sink, f"{self.host}/ci", layer="ci-cd") as run:
            if not self._discovered:
                # an empty list would read as "no variables": say it could not be read
                raise CollectorError("groups and projects could not be listed (see the code-hosting row)")
            self._collect_ci(sink, run)
            if self._malformed > malformed_before:
                run.attributes["malformed"] = self._malformed - malformed_before
                run.partial(f"{self._malformed - malformed_before} malformed records skipped")
        self._emit_skips(sink, "ci-cd")

    def _collect_code_hosting(self, sink: Sink, run: TargetRun) -> None:
        self.gl = self._connect()
        me = self._json("/user")
        if not isinstance(me, dict):
            raise CollectorError("/user: unexpected payload")
        is_admin = bool(me.get("is_admin"))
        self.admin = is_admin if self.config.get("admin") is None else bool(self.config["admin"])
        scopes = None if is_admin else self._token_scopes()  # why the view is a regular user's
        if scopes is not None:
            run.attributes["token_scopes"] = scopes
            self._no_admin_mode = "admin_mode" not in scopes
        if self.admin and not is_admin:
            # GitLab answers a non-admin's instance listings with their own rows only:
            # a silent narrowing, so say it
            if scopes is not None and "admin_mode" not in scopes:
                # with Admin Mode on, an administrator's token without ``admin_mode`` is
                # answered as a regular user's: the same shrunken view, named
                self.emit_coverage(sink, f"{self.host}:admin-mode", "code-hosting", "skipped",
                                   error="admin-only listings not read (other users' tokens, e-mails, "
                                         "audit events, runners): the token lacks the admin_mode scope, "
                                         "and with Admin Mode on GitLab shows an administrator's token "
                                         "a regular user's view")
                run.partial("admin: true is configured but GitLab answers as to a regular user: the "
                            "token is not an administrator's, or lacks the admin_mode scope (Admin Mode)")
            else:
                run.partial("admin: true is configured but the token is not an administrator's")
        run.attributes["admin"] = self.admin
        self._authenticated = True

        # users (admin: the whole instance, with e-mails and identities)
        scoped = self._scoped_usernames()
        if self.admin:
            self._service_accounts(run)
            if scoped is None:
                for u in self._pages("/users"):
                    self._add_user(sink, u)
            else:  # targeted verify: her users by name, not the instance's list
                for name in sorted(scoped):
                    for u in self._pages("/users", {"username": name}):
                        if u.get("username") == name:
                            self._add_user(sink, u)
                run.attributes["scoped"] = {
                    "users": sorted(scoped),
                    "not_narrowed": "groups and projects with their members, tokens, deploy keys, "
                                    "CI variables and schedules: what she can reach, and what was "
                                    "created by her there, is found only per place"}
        else:
            self._skips.setdefault(("code-hosting", "users"), []).append(
                "instance user list (needs an administrator token; accounts taken from memberships)")

        # audit events: attribution and variable change times (optional: Premium, admin)
        if self.admin:
            since = (self.ctx.now - timedelta(days=AUDIT_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
            events = self._each(run, "code-hosting", "audit events", "instance", "/audit_events",
                                {"created_after": since}, needed=False)
            if events is not None:
                self._audit = AuditIndex.build(events, self._username_of)
        else:
            self._skips.setdefault(("code-hosting", "audit events"), []).append(
                "instance (needs an administrator token)")

        # groups and projects
        self._discover(sink, run)
        for place in self._places:
            self._members_of(sink, run, place)
        for place in self._places:
            self._tokens_of(sink, run, place)

        # personal access tokens of every user (admin listing)
        if self.admin:
            if scoped is None:
                tokens = self._each(run, "code-hosting", "personal access tokens", "instance",
                                    "/personal_access_tokens")
            else:  # hers only (the admin listing filtered by user_id)
                tokens = []
                for name in sorted(scoped & set(self._user_ids)):
                    tokens += self._each(run, "code-hosting", "personal access tokens", name,
                                         "/personal_access_tokens",
                                         {"user_id": self._user_ids[name]}) or []
            for t in tokens or []:
                if t.get("id") in self._seen_tokens:
                    continue
                holder = self._holder(t.get("user_id"))
                cred = self._transform(transform_token, t, self.source, holder, self.ctx.now,
                                       "personal_access_token", None, None)
                if cred:
                    sink.emit(cred)
        elif not self._group_inventory(sink, run):
            run.partial("personal access tokens of other users: an administrator token, or the "
                        "top-level group's credentials inventory (Owner, Ultimate), is needed")
            self._skips.setdefault(("code-hosting", "personal access tokens"), []).append(
                "instance (403 without an administrator token" +
                ("; with Admin Mode on, one with the admin_mode scope" if self._no_admin_mode else "") + ")")

    def _token_scopes(self) -> list[str] | None:
        """The token's scopes (``GET /personal_access_tokens/self``, GitLab 15.5+); None
        where GitLab cannot say (older, or not a personal/service-account token)."""
        try:
            data = self._json("/personal_access_tokens/self")
        except (GitlabError, MalformedPage, requests.RequestException):
            return None
        scopes = data.get("scopes") if isinstance(data, dict) else None
        return [str(x) for x in scopes] if isinstance(scopes, list) else None

    def _group_inventory(self, sink: Sink, run: TargetRun) -> bool:
        """GitLab.com has no instance admin: an Owner of a top-level group on Ultimate reads
        its credentials inventory instead (its enterprise users' personal access tokens and
        SSH keys, and the hierarchy's access tokens). True when every top-level group's token
        inventory was read; each part refused is a ``skipped`` row with GitLab's reason."""
        tops = [p for p in self._places if p.kind == "group" and not p.ancestors]
        if not tops:
            return False
        complete = True
        for place in tops:
            api = f"/groups/{place.id}/manage"
            pats = self._each(run, "code-hosting", "credentials inventory of personal access tokens",
                              place.path, f"{api}/personal_access_tokens", needed=False)
            complete = complete and pats is not None
            resource = self._each(run, "code-hosting", "credentials inventory of access tokens",
                                  place.path, f"{api}/resource_access_tokens", needed=False)
            for t in (pats or []) + (resource or []):
                if not isinstance(t, dict) or t.get("id") in self._seen_tokens:
                    continue
                self._seen_tokens.add(t.get("id"))
                kind = f"{t['resource_type']}_access_token" if t.get("resource_type") else "personal_access_token"
                cred = self._transform(transform_token, t, self.source, self._holder(t.get("user_id")),
                                       self.ctx.now, kind, None, None)
                if cred:
                    cred.attributes["credentials_inventory"] = place.path
                    sink.emit(cred)
            for k in self._each(run, "code-hosting", "credentials inventory of SSH keys", place.path,
                                f"{api}/ssh_keys", needed=False) or []:
                cred = self._transform(transform_ssh_key, k, self.source, self._holder(k.get("user_id")),
                                       self.ctx.now)
                if cred:
                    cred.attributes["credentials_inventory"] = place.path
                    sink.emit(cred)
        if complete:
            run.attributes["credentials_inventory"] = [p.path for p in tops]
        return complete

    def _scoped_usernames(self) -> set[str] | None:
        """A targeted verify's usernames on this instance (accounts linked to her before,
        ``gitlab:`` aliases); None for a full scan."""
        scope = getattr(self, "_scope", None)
        if scope is None:
            return None
        prefix = f"{self.source}|"
        names = {uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix)}
        names |= set(scope.logins_for(SYSTEM)) | set(scope.logins_for(self.source))
        return {str(n) for n in names if n and "@" not in str(n)}

    def _add_user(self, sink: Sink, u: dict[str, Any]) -> None:
        if not isinstance(u.get("username"), str) or not isinstance(u.get("id"), (int, str)):
            self._bad("transform_user: no username or id")
            return
        if u.get("username") in self._users:
            return
        acc = self._transform(transform_user, u, self.source)
        if acc is None:
            return
        if acc.login in self._service_names:
            acc.kind = "service_account"
        self._users[acc.login] = acc
        self._user_ids[acc.login] = u["id"]
        self._username_of[u["id"]] = acc.login
        sink.emit(acc)

    def _holder(self, user_id: Any) -> str | None:
        name = self._username_of.get(user_id)
        return make_uid(self.source, name) if name else None

    def _service_accounts(self, run: TargetRun) -> None:
        """Instance service accounts (GitLab 16.1+): marked so, whatever their username.
        Optional: older instances answer 404 (a skipped part, not a partial target)."""
        items = self._each(run, "code-hosting", "service accounts", "instance", "/service_accounts",
                           needed=False)
        self._service_names = {sa.get("username") for sa in items or [] if isinstance(sa, dict)}

    def _discover(self, sink: Sink, run: TargetRun) -> None:
        groups: dict[int, dict[str, Any]] = {}
        projects: dict[int, dict[str, Any]] = {}
        wanted = self.config.get("groups") or []
        if wanted:
            for path in wanted:
                try:
                    g = self._json(f"/groups/{quote(path, safe='')}")
                except GitlabError as exc:
                    if exc.response_code in (403, 404):
                        run.partial(f"group {path}: {exc.response_code} (missing, or not visible to this token)")
                        continue
                    raise
                if not isinstance(g, dict) or "id" not in g:
                    run.partial(f"group {path}: unexpected payload")
                    continue
                groups[g["id"]] = g
                for d in self._valid(self._pages(f"/groups/{g['id']}/descendant_groups"), "full_path"):
                    groups.setdefault(d["id"], d)
                for p in self._valid(self._pages(f"/groups/{g['id']}/projects",
                                                 {"include_subgroups": "true"}), "path_with_namespace"):
                    projects.setdefault(p["id"], p)
        else:
            for g in self._valid(self._pages("/groups", {"all_available": "true" if self.admin else "false"}),
                                 "full_path"):
                groups.setdefault(g["id"], g)
            for p in self._valid(self._pages("/projects", {} if self.admin else {"membership": "true"},
                                             keyset=True), "path_with_namespace"):
                projects.setdefault(p["id"], p)
        by_id = groups

        def ancestors(gid: Any) -> list[str]:
            out = []
            while gid in by_id and len(out) < 100:  # (a cycle in bad data must not hang us)
                out.append(by_id[gid]["full_path"])
                gid = by_id[gid].get("parent_id")
            return out

        for g in groups.values():
            res = self._transform(transform_namespace, g, self.source)
            if res:
                sink.emit(res)
                self._places.append(_Place("group", g["id"], g["full_path"], res.uid,
                                           ancestors(g.get("parent_id"))))
        for p in projects.values():
            res = self._transform(transform_project, p, self.source)
            if res:
                sink.emit(res)
                ns = p.get("namespace") or {}
                self._places.append(_Place("project", p["id"], p["path_with_namespace"], res.uid,
                                           ancestors(ns.get("id")) if ns.get("kind") == "group" else []))
        # enclosing groups first, so that inherited memberships are recognised as such
        self._places.sort(key=lambda p: (p.kind != "group", len(p.ancestors)))
        run.attributes["groups"] = len(groups)
        run.attributes["projects"] = len(projects)
        self._discovered = True

    def _valid(self, items: Iterator[dict[str, Any]], path_key: str) -> Iterator[dict[str, Any]]:
        """Groups/projects with the id and path everything else hangs on; others skipped."""
        for item in items:
            if isinstance(item.get("id"), int) and isinstance(item.get(path_key), str):
                yield item
            else:
                self._bad(f"{path_key} listing: item without id or path")

    def _api(self, place: _Place) -> str:
        return f"/{place.kind}s/{place.id}"

    def _members_of(self, sink: Sink, run: TargetRun, place: _Place) -> None:
        members = self._each(run, "code-hosting", "members", place.path, f"{self._api(place)}/members/all")
        levels: dict[str, int] = {}
        for m in members or []:
            if not isinstance(m.get("username"), str) or not isinstance(m.get("access_level"), int):
                self._bad("member without username or access_level")
                continue
            levels[m["username"]] = m["access_level"]
            if m["username"] not in self._users:
                self._add_user(sink, m)  # non-admin: accounts come from memberships
            # inherited: the same member at the same or a higher level in an enclosing group
            inherited = any(self._members.get(a, {}).get(m["username"], -1) >= m["access_level"]
                            for a in place.ancestors)
            grant = self._transform(transform_member, m, place.uid, self.source,
                                    "inherited" if inherited else "direct")
            if grant:
                sink.emit(grant)
        self._members[place.path] = levels

    def _tokens_of(self, sink: Sink, run: TargetRun, place: _Place) -> None:
        """Access tokens, deploy tokens, deploy keys and pending invitations of a place:
        what gives access without (or beyond) a membership."""
        api = self._api(place)
        for i in self._each(run, "code-hosting", "invitations", place.path, f"{api}/invitations") or []:
            acc = self._transform(transform_invitation, i, place.uid, place.path, self.source)
            if acc:
                sink.emit(acc)
        kind = "project" if place.kind == "project" else "group"
        for t in self._each(run, "code-hosting", f"{kind} access tokens", place.path,
                            f"{api}/access_tokens") or []:
            added_by = self._audit.creators.get(("pat", str(t.get("id"))))
            cred = self._transform(transform_token, t, self.source, self._holder(t.get("user_id")),
                                   self.ctx.now, f"{kind}_access_token", place.uid, added_by)
            if cred:
                self._seen_tokens.add(t["id"])
                sink.emit(cred)
        for t in self._each(run, "code-hosting", "deploy tokens", place.path,
                            f"{api}/deploy_tokens") or []:
            added_by = self._audit.creators.get(("deploy_token", str(t.get("id"))))
            cred = self._transform(transform_deploy_token, t, place.uid, self.source, self.ctx.now, added_by)
            if cred:
                sink.emit(cred)
        if place.kind == "project":
            for k in self._each(run, "code-hosting", "deploy keys", place.path,
                                f"{api}/deploy_keys") or []:
                added_by = self._audit.creators.get(("deploy_key", str(k.get("id"))))
                cred = self._transform(transform_deploy_key, k, place.uid, place.path, self.source,
                                       self.ctx.now, added_by)
                if cred:
                    sink.emit(cred)

    def _collect_ci(self, sink: Sink, run: TargetRun) -> None:
        scanner = self.ctx.secrets
        for place in self._places:
            entity = "Project" if place.kind == "project" else "Group"
            for v in self._each(run, "ci-cd", "CI/CD variables", place.path,
                                f"{self._api(place)}/variables") or []:
                changed = self._audit.variable_changed.get((entity, place.id, str(v.get("key"))))
                out = self._transform(transform_variable, v, place.uid, place.path, self.source,
                                      scanner, changed)
                if out:
                    res, exposures = out
                    sink.emit(res)
                    sink.emit_all(exposures)
            if place.kind != "project":
                continue
            for s in self._each(run, "ci-cd", "pipeline schedules", place.path,
                                f"{self._api(place)}/pipeline_schedules") or []:
                out = self._transform(transform_schedule, s, place.uid, place.path, self.source)
                if out:
                    res, grant = out
                    owner = (s.get("owner") or {})
                    if owner.get("username") and owner["username"] not in self._users:
                        self._add_user(sink, owner)
                    sink.emit(res)
                    if grant:
                        sink.emit(grant)
        if not self.admin:
            self._skips.setdefault(("ci-cd", "runners"), []).append("instance (needs an administrator token)")
            return
        runners = self._each(run, "ci-cd", "runners", "instance", "/runners/all", needed=False)
        for r in runners or []:
            # contacted_at is only in a runner's details: one call per runner
            detail = r
            try:
                got = self._json(f"/runners/{r['id']}")
                if isinstance(got, dict):
                    detail = got
            except (GitlabError, MalformedPage) as exc:
                run.attributes.setdefault("runner_errors", []).append(safe_error(exc))
            res = self._transform(transform_runner, detail, self.source)
            if res:
                sink.emit(res)

    # --- deep pass ------------------------------------------------------------------------
    def deepen(self, sink: Sink, scope: Scope) -> None:
        """SSH keys and impersonation tokens, which GitLab lists only per user, for the
        accounts in scope (leavers', unowned) of this instance."""
        if not self._authenticated or not self._users:
            return
        prefix = f"{self.source}|"
        names = {uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix)}
        names |= {n for n in scope.logins_for(SYSTEM) if n in self._users}
        names = {n for n in names if n in self._user_ids and self._users[n].kind != "bot"}
        if not names:
            return
        with self.target(sink, f"{self.host}/users-in-scope", layer="code-hosting") as run:
            run.attributes["users"] = len(names)
            for name in sorted(names):
                uid = self._user_ids[name]
                holder = make_uid(self.source, name)
                for k in self._each(run, "code-hosting", "SSH keys", name, f"/users/{uid}/keys") or []:
                    cred = self._transform(transform_ssh_key, k, self.source, holder, self.ctx.now)
                    if cred:
                        sink.emit(cred)
                if not self.admin:
                    continue
                for t in self._each(run, "code-hosting", "impersonation tokens", name,
                                    f"/users/{uid}/impersonation_tokens") or []:
                    cred = self._transform(transform_token, t, self.source, holder, self.ctx.now,
                                           "impersonation_token", None, None)
                    if cred:
                        cred.attributes["deep"] = True
                        sink.emit(cred)
            if not self.admin:
                run.partial("impersonation tokens: an administrator token is needed")
        self._emit_skips(sink, "code-hosting")

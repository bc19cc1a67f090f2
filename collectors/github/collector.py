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

import re
from datetime import timedelta
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from collectors.base import Collector, Scope
from collectors.github import SYSTEMS
from collectors.github.client import EtagCache, GitHubApi, GitHubApiError, GraphQLError, PAGE, Q_ENTERPRISE_SAML, Q_MEMBERS, Q_MEMBERS_NO_EMAIL, Q_REPOS, Q_REPO_ACCESS, Q_REPO_COLLABORATORS, Q_REPO_DEPLOY_KEYS, Q_SAML, Q_TEAMS, Q_TEAM_MEMBERS, Q_TEAM_REPOS, Q_USER_IN_ORG, log, needs
from collectors.github.transform import Org, SYSTEM, permission_name, scrub_hook_urls, scrub_last_eight, transform_collaborator, transform_credential_authorization, transform_deploy_key, transform_fine_grained_pat, transform_hook, transform_installation, transform_invitation, transform_member, transform_org, transform_outside_collaborator, transform_repo, transform_runner, transform_saml, transform_secret, transform_team, transform_user_key, transform_audit_event
from scanner.core.errors import CollectorError
from scanner.core.http import bounded_pages
from scanner.core.options import Option
from scanner.core.store import Sink


WRITE_PERMISSIONS = {"admin", "maintain", "write"}


def _drop_hashed_tokens(body: Any) -> Any:
    """Audit-log events without ``hashed_token`` (a digest of her token: neither cached
    nor kept; ``token_id`` names the token)."""
    if isinstance(body, list):
        return [{k: v for k, v in e.items() if k != "hashed_token"} if isinstance(e, dict) else e for e in body]
    return body


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
    layer = SYSTEMS["github"]
    options = {
        "org": Option(str, required=True),
        "token": Option(str, secret=True),
        "base_url": Option(str, default="https://api.github.com"),
        "app_id": Option((int, str)),
        "private_key": Option(str, secret=True),
        "installation_id": Option(int),
        "secrets": Option(str, default="scoped", choices=("scoped", "all")),
        "enterprise": Option(str),  # the enterprise slug: its SAML IdP, where the org has none
        # deep pass: the org audit log (Enterprise Cloud) of each leaver's login: Git
        # clones, fetches and pushes, API calls and web actions -> Activity (sessions layer)
        "audit_log": Option(bool, default=False),
        "audit_log_days": Option(int, default=90),
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
                                 getattr(self.ctx, "max_pages", 10_000), timeout=self.ctx.timeout_s)
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
    def load_audit_log(self, sink: Sink, logins: list[str]) -> None:
        """``GET /orgs/{org}/audit-log?phrase=actor:LOGIN created:>=DAY&include=all`` for
        each login: what she did in the org (Git, API, web) over the last
        ``audit_log_days`` (the rules keep what is at or after her termination). One
        coverage row in the sessions layer; a 403/404 (not Enterprise Cloud, not an owner's
        token, an App without Organization administration read) makes it ``partial``:
        the check is incomplete, never clean. GitHub keeps Git events 7 days in this API
        (web events 180), which the row says."""
        if not logins:
            return
        org = self.org
        since = (self.ctx.now - timedelta(days=int(self.config.get("audit_log_days") or 90))).date().isoformat()
        with self.target(sink, f"{org.login}/audit-log", layer="sessions") as run:
            events = bad = 0
            for login in logins:
                try:
                    items = self.client().get_all(
                        f"/orgs/{org.login}/audit-log",
                        params={"phrase": f"actor:{login} created:>={since}", "include": "all"},
                        scrub=_drop_hashed_tokens)
                except GitHubApiError as exc:
                    if not exc.optional_skip:
                        raise
                    run.partial(f"audit log not readable: {exc.reason}{needs('audit-log')}")
                    break
                for item in items:
                    try:
                        sink.emit(transform_audit_event(org, login, item))
                        events += 1
                    except ValueError:
                        bad += 1
            if bad:
                run.partial(f"{bad} malformed audit-log events skipped")
            run.attributes.update({"accounts": len(logins), "events": events, "since": since,
                                   "not_checked": "Git events older than 7 days (GitHub keeps them "
                                                  "7 days in the audit-log API)"})

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
        if self.config.get("audit_log"):
            # members or not: a login removed from the org may still have acted since
            self.load_audit_log(sink, sorted(self.targeted_logins(scope)))
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

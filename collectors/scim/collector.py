"""SCIM 2.0 (RFC 7643/7644): SaaS accounts, and a roster source.

Why SCIM: the directory provisions most SaaS apps over SCIM, and when the directory's
deprovisioning does not reach an app (a failed push, a manual account, an app added
before the integration) the person keeps a live account there. Any app that speaks SCIM
(Slack, GitHub Enterprise, GitLab, AWS Identity Center, Zoom, Atlassian...) plugs in with a
name, a URL and a token:

    collectors:
      scim: [{name: slack, url: "https://api.slack.com/scim/v2", token: "${SLACK_SCIM_TOKEN}"}]

What it reads (GET only): ``/ServiceProviderConfig`` first (does the server filter? how
many results per page at most?), then ``/Users`` and ``/Groups`` with RFC 7644 paging
(1-based ``startIndex`` + ``count``, following ``totalResults`` and the number of
``Resources`` actually returned, since servers may return fewer than asked).

Records (system and source ``scim:<name>``):
- Account per User: native_id = SCIM id, login = userName, email = the primary e-mail,
  ``attributes.linked_emails`` = every e-mail, status from ``active``; the enterprise
  extension's employeeNumber, department and manager go to attributes;
- Resource(kind="app") for the app itself, and a Grant(via="direct") from every active
  account to it (membership in the app);
- Resource(kind="group") per Group, and a Grant(via="direct") per member.

Targeted (``verify --live``, a scope is given): only the users in scope, each by
``/Users/{id}`` (account ids known from the last scan) or ``filter=userName eq "x"`` /
``filter=emails eq "x"``; their groups come from the users' own ``groups`` attribute
instead of listing every group. A server that cannot filter gets the whole list, kept
only for the scoped users (correct, just not narrower).

The same module registers the ``scim`` roster source: a SCIM server that is the HR
system of record (``active: false`` = terminated, at ``meta.lastModified``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import requests

from collectors.base import Collector, Scope
import collectors.base as base
from collectors.scim import SYSTEMS
from scanner.core import http
from scanner.core.errors import ApiError
from scanner.core.model import Account, Grant, Resource, make_uid
from scanner.core.options import Option
from scanner.core.store import Sink
from scanner.core.timeparse import parse_time

log = logging.getLogger("residual.collectors.scim")

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_PAGES = 100_000  # a server that never ends its list is a failure, not a hang
RETRY_AFTER_CAP = 60.0


class ScimError(ApiError):
    """A SCIM call that failed for good (``code``: the error's scimType)."""


# --- get ---------------------------------------------------------------------------------


class ScimClient(http.JsonClient):
    """GET-only SCIM client: bearer auth, bounded retries, paging, call counting.

    ``on_call`` is called once per HTTP request, so a collector or the roster can count."""

    what = "scim"

    accept = "application/scim+json, application/json"

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0,
                 max_retries: int = 4, max_pages: int = MAX_PAGES,
                 on_call: Callable[[], None] = lambda: None):
        super().__init__(url, token, timeout=timeout, max_retries=max_retries,
                         max_pages=max_pages, on_call=on_call)

    @property
    def url(self) -> str:
        return self.base_url

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = self.send_get(
                f"{self.url}/{path.lstrip('/')}", params,
                wait_for=lambda r, d: http.retry_after_seconds(r.headers.get("Retry-After"), d, RETRY_AFTER_CAP))
        except requests.RequestException as exc:
            raise ScimError(f"GET /{path}: {exc.__class__.__name__}") from None
        if resp.status_code >= 400:
            detail, scim_type = _error_detail(resp)
            raise ScimError(f"GET /{path}: HTTP {resp.status_code}"
                            + (f" ({scim_type})" if scim_type else "")
                            + (f": {detail}" if detail else ""), resp.status_code, scim_type)
        try:
            body = resp.json()
        except ValueError:
            raise ScimError(f"GET /{path}: the answer is not JSON", resp.status_code) from None
        if not isinstance(body, dict):
            raise ScimError(f"GET /{path}: expected a JSON object", resp.status_code)
        return body

    def service_provider_config(self) -> dict[str, Any]:
        return self.get("ServiceProviderConfig")

    def list(self, resource: str, page_size: int, filter: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a resource type, page by page (RFC 7644 §3.4.2.4)."""
        start = 1
        for _ in http.bounded_pages(self.max_pages, f"GET /{resource}"):
            params: dict[str, Any] = {"startIndex": start, "count": page_size}
            if filter:
                params["filter"] = filter
            body = self.get(resource, params)
            items = body.get("Resources", body.get("resources")) or []
            if not isinstance(items, list):
                raise ScimError(f"GET /{resource}: Resources is not a list")
            yield from items
            total = body.get("totalResults")
            if not items or not isinstance(total, int) or start - 1 + len(items) >= total:
                return
            start += len(items)


def _error_detail(resp: requests.Response) -> tuple[str, str | None]:
    """The SCIM Error envelope's detail and scimType (never the request's headers)."""
    try:
        body = resp.json()
    except ValueError:
        return "", None
    if not isinstance(body, dict):
        return "", None
    return str(body.get("detail") or "")[:200], body.get("scimType")


# --- transform (pure) -----------------------------------------------------------------


@dataclass
class Capabilities:
    """What /ServiceProviderConfig says (defaults when the server has none)."""

    filter_supported: bool = False
    max_results: int | None = None
    known: bool = False


def transform_spc(payload: dict[str, Any]) -> Capabilities:
    flt = payload.get("filter") or {}
    max_results = flt.get("maxResults") if isinstance(flt, dict) else None
    return Capabilities(filter_supported=bool(isinstance(flt, dict) and flt.get("supported")),
                        max_results=max_results if isinstance(max_results, int) and max_results > 0 else None,
                        known=True)


def user_emails(payload: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(primary e-mail, every e-mail), case-folded. Primary: the one marked so, else the
    first, else a userName that looks like an e-mail."""
    raw = payload.get("emails")
    emails = [e for e in (raw if isinstance(raw, list) else []) if isinstance(e, dict) and e.get("value")]
    values = [str(e["value"]).strip().lower() for e in emails]
    primary = next((str(e["value"]).strip().lower() for e in emails if e.get("primary")), None)
    user_name = str(payload.get("userName") or "")
    if "@" in user_name and user_name.lower() not in values:
        values.append(user_name.lower())
    return primary or (values[0] if values else None), values


def transform_user(payload: Any, source: str) -> Account:
    """One SCIM User -> Account. Raises ValueError on a payload without id or userName."""
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("userName"):
        raise ValueError("SCIM user without id or userName")
    primary, emails = user_emails(payload)
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    attrs: dict[str, Any] = {"linked_emails": emails, "scim_active": payload.get("active")}
    for key, name in (("externalId", "external_id"), ("displayName", "display_name"),
                      ("userType", "user_type")):
        if payload.get(key):
            attrs[name] = payload[key]
    if meta.get("lastModified"):
        attrs["last_modified"] = meta["lastModified"]
    ext = payload.get(ENTERPRISE)
    if isinstance(ext, dict):
        if ext.get("employeeNumber"):
            attrs["employee_number"] = str(ext["employeeNumber"])
        if ext.get("department"):
            attrs["department"] = ext["department"]
        mgr = ext.get("manager")
        if isinstance(mgr, dict) and mgr.get("value"):
            attrs["manager"] = {"id": mgr.get("value"), "name": mgr.get("displayName")}
    roles = [r.get("value") for r in payload.get("roles") or [] if isinstance(r, dict) and r.get("value")]
    if roles:
        attrs["roles"] = roles
    # RFC 7643: ``active`` is optional; absent means the server does not say, and an
    # account nobody says is inactive is treated as live.
    status = "disabled" if payload.get("active") is False else "active"
    system = source
    return Account(system=system, source=source, native_id=str(payload["id"]),
                   login=str(payload["userName"]), email=primary, kind="user", status=status,
                   created_at=parse_time(meta.get("created")), attributes=attrs)


def transform_users(payloads: Iterable[Any], source: str) -> tuple[list[Account], int]:
    """Accounts, and how many payloads were malformed (skipped, never fatal)."""
    out, bad = [], 0
    for p in payloads:
        try:
            out.append(transform_user(p, source))
        except ValueError:
            bad += 1
    return out, bad


def app_resource(name: str, source: str, url: str) -> Resource:
    return Resource(system=source, source=source, native_id="app", kind="app", name=name,
                    attributes={"url": url})


def app_granparse_time(accounts: Iterable[Account], app: Resource) -> list[Grant]:
    """Membership in the app: one Grant per live account (roles, if the app has them)."""
    return [Grant(system=app.system, source=app.source, principal=a.uid, resource=app.uid,
                  permission=",".join(a.attributes.get("roles") or []) or "member", via="direct")
            for a in accounts if a.status == "active"]


def transform_groups(payloads: Iterable[Any], source: str) -> tuple[list[Resource], list[Grant], int]:
    """Groups -> Resources, members -> Grants (a nested group is a via="group" grant).
    A member's ``type`` and ``$ref`` are optional (RFC 7643 §4.2; python-scim2-server
    leaves both out): an untyped member whose id is one of the listed groups is that
    group, not a user of that id, which does not exist."""
    payloads = list(payloads)
    group_ids = {str(g["id"]) for g in payloads if isinstance(g, dict) and g.get("id")}
    resources, grants, bad = [], [], 0
    for g in payloads:
        if not isinstance(g, dict) or not g.get("id"):
            bad += 1
            continue
        meta = g.get("meta") if isinstance(g.get("meta"), dict) else {}
        res = Resource(system=source, source=source, native_id=f"group:{g['id']}", kind="group",
                       name=str(g.get("displayName") or g["id"]),
                       updated_at=parse_time(meta.get("lastModified")))
        resources.append(res)
        for m in g.get("members") or []:
            if not isinstance(m, dict) or not m.get("value"):
                continue
            kind, ref = str(m.get("type") or "").lower(), str(m.get("$ref") or "")
            if kind or ref:
                nested = kind == "group" or "/Groups/" in ref
            else:
                nested = str(m["value"]) in group_ids
            principal = make_uid(source, f"group:{m['value']}" if nested else str(m["value"]))
            grants.append(Grant(system=source, source=source, principal=principal,
                                resource=res.uid, permission="member",
                                via="group" if nested else "direct"))
    return resources, grants, bad


def grants_from_user_groups(payloads: Iterable[Any], source: str) -> tuple[list[Resource], list[Grant]]:
    """Fallback when /Groups is not offered: the Users' read-only ``groups`` attribute."""
    resources: dict[str, Resource] = {}
    grants = []
    for u in payloads:
        if not isinstance(u, dict) or not u.get("id"):
            continue
        for g in u.get("groups") or []:
            if not isinstance(g, dict) or not g.get("value"):
                continue
            nid = f"group:{g['value']}"
            res = resources.setdefault(nid, Resource(system=source, source=source, native_id=nid,
                                                     kind="group", name=str(g.get("display") or g["value"])))
            grants.append(Grant(system=source, source=source, principal=make_uid(source, str(u["id"])),
                                resource=res.uid, permission="member",
                                via="group" if g.get("type") == "indirect" else "direct"))
    return list(resources.values()), grants


# --- load ----------------------------------------------------------------------------


OPTIONS = {
    "name": Option(str, required=True),
    "url": Option(str, required=True),
    "token": Option(str, secret=True),
    "page_size": Option(int, default=100),
    "filter": Option(str),
}


class ScimCollector(Collector):
    name = "scim"
    layer = SYSTEMS["scim"]
    options = OPTIONS

    @property
    def source(self) -> str:
        return f"scim:{self.config['name']}"

    def describe(self) -> str:
        return self.source

    def client(self) -> ScimClient:
        client = ScimClient(self.config["url"], self.config.get("token"), timeout=self.ctx.timeout_s,
                            max_retries=self.ctx.max_retries, on_call=self.count_call)
        client.max_pages = self.ctx.max_pages
        return client

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        if scope is not None:
            return self.collect_scoped(sink, scope)
        with self.target(sink, self.config["name"]) as run:
            client = self.client()
            caps = self.capabilities(client, sink)
            page_size = max(1, int(self.config.get("page_size") or 100))
            if caps.max_results:
                page_size = min(page_size, caps.max_results)
            flt = self.config.get("filter")
            if flt and caps.known and not caps.filter_supported:
                # the whole list is a superset of the filtered one: safe, only slower
                run.attributes["filter_ignored"] = "the server does not support filtering"
                flt = None
            run.attributes.update({"page_size": page_size, "filter": flt})

            users = list(client.list("Users", page_size, flt))
            accounts, bad = transform_users(users, self.source)
            if bad:
                log.warning("%s: %d malformed SCIM users skipped", self.source, bad)
                run.attributes["malformed_users"] = bad
                run.partial(f"{bad} malformed users skipped")
            app = app_resource(self.config["name"], self.source, self.config["url"])
            sink.emit(app)
            sink.emit_all(accounts)
            sink.emit_all(app_granparse_time(accounts, app))
            run.attributes["users"] = len(accounts)
            self.collect_groups(client, sink, run, users, page_size, flt is not None)

    def collect_scoped(self, sink: Sink, scope: Scope) -> None:
        """Targeted verification: ask only about the users in scope."""
        with self.target(sink, self.config["name"]) as run:
            client = self.client()
            ids, names, emails = scoped_keys(scope, self.source, self.config["name"])
            users: dict[str, dict[str, Any]] = {}
            known: set[str] = set()

            def keep(payload: Any) -> None:
                if isinstance(payload, dict) and payload.get("id"):
                    users.setdefault(str(payload["id"]), payload)
                    _, mails = user_emails(payload)
                    known.update([str(payload["id"]).lower(), str(payload.get("userName") or "").lower(), *mails])

            for uid in ids:
                try:
                    keep(client.get(f"Users/{requests.utils.quote(uid, safe='')}"))
                except ScimError as exc:
                    if exc.status != 404:  # 404: the account is gone, which is the point
                        raise
            wanted = [("userName", n) for n in names if n.lower() not in known]
            wanted += [("emails", e) for e in emails if e.lower() not in known]
            if wanted:
                caps = self.capabilities(client, sink)
                if caps.known and not caps.filter_supported:
                    run.attributes["filter_ignored"] = "the server does not filter: listed every user"
                    keys = {v.lower() for _, v in wanted}
                    for payload in client.list("Users", caps.max_results or 100):
                        _, mails = user_emails(payload) if isinstance(payload, dict) else (None, [])
                        if isinstance(payload, dict) and ({str(payload.get("userName") or "").lower(), *mails} & keys):
                            keep(payload)
                else:
                    for attr, value in wanted:
                        if value.lower() in known:
                            continue
                        for payload in client.list("Users", 10, f'{attr} eq "{_scim_quote(value)}"'):
                            keep(payload)
            accounts, bad = transform_users(users.values(), self.source)
            if bad:
                run.partial(f"{bad} malformed users skipped")
            app = app_resource(self.config["name"], self.source, self.config["url"])
            sink.emit(app)
            sink.emit_all(accounts)
            sink.emit_all(app_granparse_time(accounts, app))
            resources, grants = grants_from_user_groups(users.values(), self.source)
            omitted = [uid for uid, u in users.items() if "groups" not in u]
            if omitted:  # ``User.groups`` is optional: ask /Groups who has her as a member
                more_res, more_grants = self.groups_of(client, sink, run, omitted)
                resources += more_res
                grants += more_grants
            sink.emit_all(resources)
            sink.emit_all(grants)
            run.attributes.update({"scoped": True, "users": len(accounts)})

    def groups_of(self, client: ScimClient, sink: Sink, run: base.TargetRun,
                  user_ids: list[str]) -> tuple[list[Resource], list[Grant]]:
        """Her groups where the server leaves ``User.groups`` out: ``/Groups`` filtered on
        ``members.value`` (RFC 7644 §3.4.2.2). A server that cannot filter Groups makes the
        row partial: her group memberships were not checked."""
        resources: dict[str, Resource] = {}
        grants: list[Grant] = []
        try:
            for uid in user_ids:
                for g in client.list("Groups", 100, f'members.value eq "{_scim_quote(uid)}"'):
                    res, _, _ = transform_groups([g], self.source)
                    if not res:
                        continue
                    resources.setdefault(res[0].native_id, res[0])
                    grants.append(Grant(system=self.source, source=self.source,
                                        principal=make_uid(self.source, uid), resource=res[0].uid,
                                        permission="member", via="direct"))
        except ScimError as exc:
            if exc.status not in (400, 403, 404, 501):
                raise
            run.partial(f"group memberships not checked: the server omits User.groups and "
                        f"/Groups?filter=members.value answered {exc}")
        return list(resources.values()), grants

    def capabilities(self, client: ScimClient, sink: Sink) -> Capabilities:
        """ServiceProviderConfig is REQUIRED by RFC 7644, but some apps lack it: then
        page with the configured size and do not filter."""
        try:
            return transform_spc(client.service_provider_config())
        except ScimError as exc:
            if exc.status in (403, 404, 501):
                self.emit_coverage(sink, f"{self.config['name']}/ServiceProviderConfig", self.layer,
                                   "skipped", error=str(exc))
                return Capabilities()
            raise

    def collect_groups(self, client: ScimClient, sink: Sink, run: base.TargetRun,
                       users: list[Any], page_size: int, filtered: bool) -> None:
        try:
            groups = list(client.list("Groups", page_size))
        except ScimError as exc:
            if exc.status not in (403, 404, 501):
                raise
            self.emit_coverage(sink, f"{self.config['name']}/Groups", self.layer, "skipped",
                               error=f"{exc} (needs read access to /Groups); memberships taken "
                                     "from the users' groups attribute")
            resources, grants = grants_from_user_groups(users, self.source)
            sink.emit_all(resources)
            sink.emit_all(grants)
            return
        resources, grants, bad = transform_groups(groups, self.source)
        if filtered:  # only members we listed: a filtered user list would leave dangling grants
            listed = {make_uid(self.source, str(u.get("id"))) for u in users if isinstance(u, dict)}
            grants = [g for g in grants if g.via == "group" or g.principal in listed]
        if bad:
            run.attributes["malformed_groups"] = bad
            run.partial(f"{bad} malformed groups skipped")
        sink.emit_all(resources)
        sink.emit_all(grants)
        run.attributes["groups"] = len(resources)


def scoped_keys(scope: Scope, source: str, name: str) -> tuple[list[str], list[str], list[str]]:
    """(SCIM ids, userNames, e-mails) to ask about: account ids known from the last scan,
    logins (``scim:<name>:<userName>`` aliases, or the last scan's logins), then e-mails."""
    prefix = source + "|"
    ids = sorted(uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix))
    names = set(scope.logins_for(source))
    names |= {h.split(":", 1)[1] for h in scope.logins_for("scim") if h.startswith(f"{name}:")}
    return ids, sorted(names), sorted({e.lower() for e in scope.emails})


def _scim_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')

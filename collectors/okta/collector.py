"""Okta: the directory's own residue, and a roster source.

Why: termination is recorded in HR, but it is Okta that grants the SSO sessions, the app
assignments and the API tokens. A person HR has let go can still be ACTIVE in Okta,
still assigned to apps, and an API token an admin created stays valid for as long as that
admin's account is active (Okta rejects tokens of deactivated creators, and accepts them
again if the creator is reactivated).

What it reads (GET only, ``Authorization: SSWS <token>``):
- users: ``/api/v1/users`` (Okta leaves DEPROVISIONED users out of the default list) plus
  ``/api/v1/users?filter=status eq "DEPROVISIONED"`` -> Account per user;
- apps and their assignments: ``/api/v1/apps`` + ``/api/v1/apps/{id}/users`` ->
  Resource(kind="app") + Grant(via="assignment"). Chosen over each user's ``appLinks``
  because it costs one call per app (500 assignments a page) instead of one per user:
  an org has far fewer apps than users;
- API tokens: ``/api/v1/api-tokens`` -> Credential(kind="api_key", holder = the creator's
  account). A 403/404 there (a read-only admin) is a "skipped" coverage row, not a failure;
- targeted (``verify --live``, a scope is given): only the users in scope, each by
  ``/api/v1/users/{id or login}`` (or ``search=profile.email eq``, case-insensitive), their apps by
  ``/api/v1/apps?filter=user.id eq "..."`` and each assignment by
  ``/api/v1/apps/{app}/users/{user}``; API tokens are listed (Okta has no per-user
  filter) and only the scoped users' are kept;
- in the deep pass only, the enrolled factors of the accounts in scope
  (``/api/v1/users/{id}/factors``, which Okta gives per user) -> Credential(kind="mfa_device").

Paging follows the ``Link: <...>; rel="next"`` header (``after`` cursor). Rate limits: a
429 waits until ``X-Rate-Limit-Reset`` (bounded), and an answer with
``X-Rate-Limit-Remaining: 0`` makes the next call wait for the reset too.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator

import requests

from collectors.base import Collector, Scope
import collectors.base as base
from collectors.okta import SYSTEMS
from scanner.core import http
from collectors.okta.common import OktaError, ts
from collectors.okta.sessions import collect_sessions
from scanner.core.model import Account, Credential, Grant, Identity, Resource, make_uid
from scanner.core.options import Option
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.okta")

MAX_PAGES = 100_000
RESET_WAIT_CAP = 60.0  # never wait longer than a minute for a rate-limit window
DEPROVISIONED_FILTER = 'status eq "DEPROVISIONED"'

# Okta user status -> Account.status. PROVISIONED/STAGED users have not activated yet.
ACCOUNT_STATUS = {"ACTIVE": "active", "PASSWORD_EXPIRED": "active", "LOCKED_OUT": "active",
                  "RECOVERY": "active", "PROVISIONED": "pending", "STAGED": "pending",
                  "SUSPENDED": "suspended", "DEPROVISIONED": "disabled"}
# statuses under which Okta accepts the API tokens a user created
TOKEN_VALID_STATUSES = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"}


# --- get ---------------------------------------------------------------------------------


class OktaClient(http.JsonClient):
    """GET-only Okta client: SSWS auth, Link-header paging, rate-limit waits, retries."""

    what = "okta"

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0,
                 max_retries: int = 4, max_pages: int = MAX_PAGES,
                 on_call: Callable[[], None] = lambda: None, token_type: str = "SSWS"):
        # SSWS: an API token; Bearer: an OAuth 2.0 service app's access token
        super().__init__(base_url, token, scheme=token_type, timeout=timeout,
                         max_retries=max_retries, max_pages=max_pages, on_call=on_call)
        self.max_wait_s = 3600.0  # rate-limit waits in total; the collector sets network.max_wait_s
        self.waited: list[float] = []  # rate-limit and backoff waits, for coverage
        self._pause: float = 0.0

    def before_send(self) -> None:
        if self._pause:  # the last answer said the rate-limit window is spent
            self._wait(self._pause)
            self._pause = 0.0

    def get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        url = url if url.startswith("http") else f"{self.base_url}{url}"

        def wait_for(resp: requests.Response, backoff: float) -> float:
            wait = self._reset_wait(resp) if resp.status_code == 429 else \
                http.retry_after_seconds(resp.headers.get("Retry-After"), backoff, RESET_WAIT_CAP)
            return wait if wait > 0 else backoff

        try:
            resp = self.send_get(url, params, wait=self._wait, wait_for=wait_for)
        except requests.RequestException as exc:
            raise OktaError(f"GET {_path(url)}: {exc.__class__.__name__}") from None
        if resp.status_code >= 400:
            code, summary = _error(resp)
            raise OktaError(f"GET {_path(url)}: HTTP {resp.status_code}"
                            + (f" {code}" if code else "") + (f": {summary}" if summary else ""),
                            resp.status_code, code)
        if resp.headers.get("X-Rate-Limit-Remaining") == "0":
            self._pause = self._reset_wait(resp) or 1.0
        return resp

    def _reset_wait(self, resp: requests.Response) -> float:
        """Seconds until the rate-limit window resets (X-Rate-Limit-Reset is epoch seconds)."""
        try:
            reset = float(resp.headers.get("X-Rate-Limit-Reset", ""))
        except ValueError:
            return http.retry_after_seconds(resp.headers.get("Retry-After"), 0.0, RESET_WAIT_CAP)
        return min(RESET_WAIT_CAP, max(0.0, reset - time.time()))

    def _wait(self, seconds: float, fallback: float = 1.0) -> None:
        seconds = seconds if seconds > 0 else fallback
        http.budgeted_sleep(seconds, sum(self.waited), self.max_wait_s, "okta")
        self.waited.append(seconds)

    def json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        resp = self.get(url, params)
        try:
            return resp.json()
        except ValueError:
            raise OktaError(f"GET {_path(url)}: the answer is not JSON", resp.status_code) from None

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``Link: rel="next"``."""
        url: str | None = f"{self.base_url}{path}"
        seen: set[str] = set()
        for _ in http.bounded_pages(self.max_pages, f"GET {path}"):
            resp = self.get(url, params)
            params = None  # the next link carries the query
            try:
                items = resp.json()
            except ValueError:
                raise OktaError(f"GET {path}: the answer is not JSON", resp.status_code) from None
            if not isinstance(items, list):
                raise OktaError(f"GET {path}: expected a JSON list")
            yield from items
            url = (resp.links.get("next") or {}).get("url")
            if not url or not items:
                return
            if url in seen:
                raise OktaError(f"GET {path}: the next page link repeats itself")
            seen.add(url)

    def users(self, page_size: int = 200) -> list[dict[str, Any]]:
        """Every user, DEPROVISIONED ones included (the default list hides them)."""
        out: dict[str, dict[str, Any]] = {}
        for params in ({"limit": page_size}, {"limit": page_size, "filter": DEPROVISIONED_FILTER}):
            for u in self.pages("/api/v1/users", params):
                if isinstance(u, dict) and u.get("id"):
                    out.setdefault(str(u["id"]), u)
                else:
                    out.setdefault(f"?{len(out)}", u)  # malformed: the transform counts it
        return list(out.values())


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]


def _error(resp: requests.Response) -> tuple[str | None, str]:
    try:
        body = resp.json()
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    return body.get("errorCode"), str(body.get("errorSummary") or "")[:200]


# --- transform (pure) -----------------------------------------------------------------


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration(value: Any) -> timedelta | None:
    """ISO 8601 duration (``P30D``, ``PT5M``) to a timedelta; None if unreadable."""
    m = _DURATION.match(value) if isinstance(value, str) and value != "P" else None
    if not m:
        return None
    y, mo, w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)


def transform_user(payload: Any, source: str) -> Account:
    """One Okta User -> Account. Raises ValueError on a payload without id or login."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta user without id")
    profile = payload.get("profile") if isinstance(payload.get("profile"), dict) else {}
    login = profile.get("login")
    if not login:
        raise ValueError("Okta user without profile.login")
    status = str(payload.get("status") or "")
    emails = [str(e).lower() for e in (profile.get("email"), profile.get("secondEmail")) if e]
    return Account(
        system="okta", source=source, native_id=str(payload["id"]), login=str(login),
        email=emails[0] if emails else None, kind="user",
        status=ACCOUNT_STATUS.get(status, "active"),
        created_at=ts(payload.get("created")), last_seen_at=ts(payload.get("lastLogin")),
        attributes={"okta_status": status, "status_changed": payload.get("statusChanged"),
                    "linked_emails": emails,
                    "display_name": " ".join(p for p in (profile.get("firstName"),
                                                         profile.get("lastName"))
                                             if isinstance(p, str) and p)})


def transform_users(payloads: Iterable[Any], source: str) -> tuple[list[Account], int]:
    out, bad = [], 0
    for p in payloads:
        try:
            out.append(transform_user(p, source))
        except ValueError:
            bad += 1
    return out, bad


def transform_app(payload: Any, source: str) -> Resource:
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta app without id")
    return Resource(system="okta", source=source, native_id=f"app:{payload['id']}", kind="app",
                    name=str(payload.get("label") or payload.get("name") or payload["id"]),
                    updated_at=ts(payload.get("lastUpdated")),
                    attributes={"app_name": payload.get("name"), "status": payload.get("status"),
                                "sign_on_mode": payload.get("signOnMode")})


def transform_assignment(payload: Any, source: str, app: Resource) -> Grant:
    """An AppUser -> Grant(via="assignment"); ``scope`` USER (direct) or GROUP."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta app user without id")
    creds = payload.get("credentials") if isinstance(payload.get("credentials"), dict) else {}
    return Grant(system="okta", source=source, principal=make_uid(source, str(payload["id"])),
                 resource=app.uid, permission="assigned", via="assignment",
                 attributes={"scope": payload.get("scope"), "app_user_status": payload.get("status"),
                             "app_username": creds.get("userName"), "app": app.name,
                             "assigned_at": payload.get("created")})


def transform_token(payload: Any, source: str, creator_status: dict[str, str],
                    now: datetime) -> Credential:
    """API token metadata -> Credential(kind="api_key").

    Okta extends a token's ``expiresAt`` by ``tokenWindow`` at every use, so the last use
    is ``expiresAt - tokenWindow`` (recorded as derived). A token works only while its
    creator is active: a deactivated creator's token is ``inactive`` (and comes back if
    the creator is reactivated)."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta API token without id")
    user_id = payload.get("userId")
    expires = ts(payload.get("expiresAt"))
    window = duration(payload.get("tokenWindow"))
    creator = creator_status.get(str(user_id)) if user_id else None
    if expires and expires <= now:
        status = "expired"
    elif creator is not None and creator not in TOKEN_VALID_STATUSES:
        status = "inactive"
    else:
        status = "active"
    network = payload.get("network") if isinstance(payload.get("network"), dict) else {}
    return Credential(
        system="okta", source=source, native_id=str(payload["id"]), kind="api_key",
        holder=make_uid(source, str(user_id)) if user_id else None,
        name=str(payload.get("name") or ""), status=status,
        created_at=ts(payload.get("created")), expires_at=expires,
        last_used_at=(expires - window) if expires and window else None,
        attributes={"token_window": payload.get("tokenWindow"), "client_name": payload.get("clientName"),
                    "network": network.get("connection"), "creator_status": creator,
                    "last_used_derived": bool(expires and window),
                    "valid_while_creator_active": True})


FACTOR_STATUS = {"ACTIVE": "active", "PENDING_ACTIVATION": "inactive", "NOT_SETUP": "inactive",
                 "ENROLLED": "active", "INACTIVE": "inactive", "EXPIRED": "expired"}


def transform_factor(payload: Any, source: str, holder: str) -> Credential:
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta factor without id")
    return Credential(system="okta", source=source, native_id=f"factor:{payload['id']}",
                      kind="mfa_device", holder=holder,
                      name=f"{payload.get('factorType')} ({payload.get('provider')})",
                      status=FACTOR_STATUS.get(str(payload.get("status")), "unknown"),
                      created_at=ts(payload.get("created")),
                      attributes={"factor_type": payload.get("factorType"),
                                  "provider": payload.get("provider"), "deep": True})


# --- load ----------------------------------------------------------------------------


class OktaCollector(Collector):
    name = "okta"
    layer = SYSTEMS["okta"]
    options = {
        "domain": Option(str, required=True),
        "token": Option(str, secret=True),
        "base_url": Option(str),  # default https://<domain>; tests point it at a fake
        "token_type": Option(str, default="SSWS", choices=("SSWS", "Bearer")),
        "page_size": Option(int, default=200),
        "factors": Option(bool, default=True),  # deep pass: enrolled factors of accounts in scope
        "sessions": Option(bool, default=False),  # deep pass: leavers' tokens, devices, session events
        "session_log_days": Option(int, default=90),
        "revoke": Option(dict),  # write credentials for the session revoker (collectors/revoke.py)
    }

    @property
    def domain(self) -> str:
        return self.config["domain"]

    @property
    def source(self) -> str:
        return f"okta:{self.domain}"

    def describe(self) -> str:
        return self.source

    def client(self) -> OktaClient:
        client = OktaClient(self.config.get("base_url") or f"https://{self.domain}",
                            self.config.get("token"), timeout=self.ctx.timeout_s,
                            max_retries=self.ctx.max_retries, on_call=self.count_call,
                            token_type=self.config.get("token_type") or "SSWS")
        client.max_pages = self.ctx.max_pages
        client.max_wait_s = self.ctx.max_wait_s
        return client

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        if scope is not None:
            return self.collect_scoped(sink, scope)
        with self.target(sink, self.domain) as run:
            client = self.client()
            users = client.users(max(1, min(200, int(self.config.get("page_size") or 200))))
            accounts, bad = transform_users(users, self.source)
            if bad:
                log.warning("%s: %d malformed users skipped", self.source, bad)
                run.attributes["malformed_users"] = bad
                run.partial(f"{bad} malformed users skipped")
            sink.emit_all(accounts)
            run.attributes["users"] = len(accounts)
            self.collect_apps(client, sink, run)
            status_by_id = {a.native_id: a.attributes["okta_status"] for a in accounts}
            self.collect_tokens(client, sink, status_by_id)
            if client.waited:
                run.attributes["rate_limit_waits"] = len(client.waited)

    def collect_scoped(self, sink: Sink, scope: Scope) -> None:
        """Targeted verification: ask only about the users in scope (known account ids
        first, then logins, then e-mails nobody answered for yet)."""
        with self.target(sink, self.domain) as run:
            client = self.client()
            users: dict[str, dict[str, Any]] = {}
            known: set[str] = set()  # ids, logins and e-mails already answered for

            def keep(payload: Any) -> None:
                if isinstance(payload, dict) and payload.get("id"):
                    users.setdefault(str(payload["id"]), payload)
                    profile = payload.get("profile") if isinstance(payload.get("profile"), dict) else {}
                    known.update(str(v).lower() for v in (payload["id"], profile.get("login"),
                                                          profile.get("email")) if v)

            for key in scoped_user_keys(scope, self.source):
                if key.lower() not in known:
                    keep(self.get_user(client, key))
            for email in sorted({e.lower() for e in scope.emails} - known):
                # ``search``, not ``filter``: Okta's filter is case-sensitive, and the
                # roster's e-mail need not match the case Okta stored (Alice.Smith@...)
                for payload in client.pages("/api/v1/users", {"search": f'profile.email eq "{email}"'}):
                    keep(payload)
            accounts, bad = transform_users(users.values(), self.source)
            if bad:
                run.partial(f"{bad} malformed users skipped")
            sink.emit_all(accounts)
            run.attributes.update({"scoped": True, "users": len(accounts)})
            for acc in accounts:
                self.collect_user_apps(client, sink, run, acc)
            status_by_id = {a.native_id: a.attributes["okta_status"] for a in accounts}
            self.collect_tokens(client, sink, status_by_id, only=set(status_by_id))

    def get_user(self, client: OktaClient, key: str) -> dict[str, Any] | None:
        """One user by id or login; None when Okta has no such user (deleted)."""
        try:
            return client.json(f"/api/v1/users/{requests.utils.quote(key, safe='@')}")
        except OktaError as exc:
            if exc.status == 404:
                return None
            raise

    def collect_user_apps(self, client: OktaClient, sink: Sink, run: base.TargetRun,
                          acc: Account) -> None:
        """The apps one user is assigned to, and each assignment (scope USER or GROUP)."""
        for payload in client.pages("/api/v1/apps", {"filter": f'user.id eq "{acc.native_id}"',
                                                     "limit": 200}):
            try:
                app = transform_app(payload, self.source)
            except ValueError:
                run.partial("a malformed app was skipped")
                continue
            sink.emit(app)
            if app.attributes.get("status") != "ACTIVE":
                continue
            app_id = app.native_id.split(":", 1)[1]
            try:
                au = client.json(f"/api/v1/apps/{app_id}/users/{acc.native_id}")
                sink.emit(transform_assignment(au, self.source, app))
            except ValueError:
                run.partial(f"a malformed assignment of app {app.name} was skipped")
            except OktaError as exc:
                if exc.status in (0, 401, 429) or exc.status >= 500:
                    raise
                run.partial(f"assignment of app {app.name}: {exc}")

    def collect_apps(self, client: OktaClient, sink: Sink, run: base.TargetRun) -> None:
        """Apps, then each active app's assignments (one call per 500)."""
        apps = 0
        for payload in client.pages("/api/v1/apps", {"limit": 200}):
            try:
                app = transform_app(payload, self.source)
            except ValueError:
                run.partial("a malformed app was skipped")
                continue
            sink.emit(app)
            apps += 1
            if app.attributes.get("status") != "ACTIVE":
                continue  # an inactive app signs nobody in
            app_id = app.native_id.split(":", 1)[1]
            try:
                for au in client.pages(f"/api/v1/apps/{app_id}/users", {"limit": 500}):
                    try:
                        sink.emit(transform_assignment(au, self.source, app))
                    except ValueError:
                        run.partial(f"a malformed assignment of app {app.name} was skipped")
            except OktaError as exc:
                if exc.status in (0, 401) or exc.status >= 500 or exc.status == 429:
                    raise
                run.partial(f"assignments of app {app.name}: {exc}")
        run.attributes["apps"] = apps

    def collect_tokens(self, client: OktaClient, sink: Sink, status_by_id: dict[str, str],
                       only: set[str] | None = None) -> None:
        try:
            tokens = list(client.pages("/api/v1/api-tokens"))
        except OktaError as exc:
            if exc.status in (403, 404):
                self.emit_coverage(sink, f"{self.domain}/api-tokens", self.layer, "skipped",
                                   error=f"{exc} (listing API tokens needs the okta.apiTokens.read "
                                         "scope or a super admin's token)")
                return
            raise
        for payload in tokens:
            if only is not None and not (isinstance(payload, dict) and payload.get("userId") in only):
                continue  # targeted: another user's token is not asked about
            try:
                sink.emit(transform_token(payload, self.source, status_by_id, self.ctx.now))
            except ValueError:
                log.warning("%s: a malformed API token was skipped", self.source)

    def deepen(self, sink: Sink, scope: Scope) -> None:
        """Enrolled factors, which Okta lists only per user: only for accounts in scope."""
        prefix = self.source + "|"
        wanted = sorted(uid for uid in scope.accounts if uid.startswith(prefix))
        if wanted and self.config.get("sessions"):
            collect_sessions(self, self.client(), sink, wanted)
        if not wanted or not self.config.get("factors", True):
            return
        with self.target(sink, f"{self.domain}/factors") as run:
            client = self.client()
            for uid in wanted:
                user_id = uid[len(prefix):]
                try:
                    factors = client.json(f"/api/v1/users/{user_id}/factors")
                except OktaError as exc:
                    if exc.status in (403, 404):
                        run.partial(f"factors of {user_id}: {exc}")
                        continue
                    raise
                for f in factors if isinstance(factors, list) else []:
                    try:
                        sink.emit(transform_factor(f, self.source, uid))
                    except ValueError:
                        run.partial(f"a malformed factor of {user_id} was skipped")
            run.attributes["accounts"] = len(wanted)


def scoped_user_keys(scope: Scope, source: str) -> list[str]:
    """What to ask Okta for, per user in scope: account ids known from the last scan,
    then logins named by roster aliases (``okta:<login>``)."""
    prefix = source + "|"
    keys = [uid[len(prefix):] for uid in sorted(scope.accounts) if uid.startswith(prefix)]
    for login in sorted(scope.logins_for("okta") | scope.logins_for(source)):
        if login not in keys:
            keys.append(login)
    return keys

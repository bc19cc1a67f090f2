"""Slack (Enterprise Grid admin API): who is deleted, and what sessions they still hold.

Why: removing a person from Slack (or from the IdP that provisions it) stops new sign-ins,
not the sessions her laptop and phone already have; and a Slack user the IdP never
deprovisioned is an account of a leaver. Read-only (``slack_sdk``'s ``WebClient``):

- bulk pass: ``auth.test`` (which org the token is), ``admin.users.list`` (active, then
  ``is_active=false``: the deleted ones), 1000 a page -> Account. A token that is not an
  org admin's user token (a bot token, a workspace outside Grid) cannot ask the admin API:
  the collector then reads ``users.list`` of each ``team_ids`` workspace instead, and
  says in coverage that sessions cannot be shown (``sessions`` layer ``partial``, never
  clean);
- deep pass, leavers only: ``admin.users.session.list`` (``user_id`` + ``team_id``, per
  workspace of the user) -> Credential(kind="session"); ``team.accessLogs`` of each
  workspace, newest first, until ``access_log_days`` back -> Activity rows of the users in
  scope (the "used after termination" evidence). ``paid_only``/``missing_scope`` there
  is a partial coverage row naming what is missing.

Rate limits: a ``ratelimited`` 429 waits ``Retry-After`` (bounded) and is retried at most
``max_retries`` times; every request sent is counted.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Callable, Iterator

from scanner.core import http
from collectors.base import Collector, Scope
from collectors.revoke import revoke_option
from collectors.slack.transform import (
    transform_admin_user, transform_login, transform_member, transform_session,
)
from scanner.core.errors import CollectorError
from scanner.core.http import bounded_pages
from scanner.core.options import Option
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.slack")

ADMIN_REFUSALS = ("not_allowed_token_type", "feature_not_enabled", "missing_scope", "not_allowed")
NEEDS = "an Enterprise Grid org admin's user token (xoxp-) with admin.users:read"


class SlackError(CollectorError):
    def __init__(self, method: str, error: str, needed: str | None = None):
        super().__init__(f"{method}: {error}" + (f" (needs {needed})" if needed else ""))
        self.error = error
        self.needed = needed


class SlackCollector(Collector):
    name = "slack"
    layer = "saas"
    options = {
        "name": Option(str, default=""),
        "token": Option(str, required=True, secret=True),
        "base_url": Option(str, default="https://slack.com/api/"),  # tests point it at a fake
        "team_ids": Option(list, default=[], item_type=str),  # workspaces for users.list / accessLogs
        "sessions": Option(bool, default=True),  # deep pass: leavers' sessions
        "access_logs": Option(bool, default=True),  # deep pass: team.accessLogs (paid plans)
        "access_log_days": Option(int, default=90),
        "revoke": revoke_option(),
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self.source = "slack"
        self._client: Any = None
        self.admin_api = True
        self.teams: list[str] = list(config.get("team_ids") or [])
        self.workspaces: dict[str, list[str]] = {}  # user id -> workspaces (admin.users.list)

    def describe(self) -> str:
        return f"slack:{self.config['name']}" if self.config.get("name") else "slack"

    # -- get ----------------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            from slack_sdk import WebClient
            base_url = self.config.get("base_url") or "https://slack.com/api/"
            self._client = WebClient(token=self.config["token"], timeout=int(self.ctx.timeout_s),
                                     base_url=base_url if base_url.endswith("/") else base_url + "/",
                                     retry_handlers=[])
        return self._client

    def ask(self, method: str, fn: Callable[[], Any]) -> dict[str, Any]:
        """One Web API call, counted; a 429 waits Retry-After and is retried."""
        from slack_sdk.errors import SlackApiError

        delays = http.backoff_delays(self.ctx.max_retries)
        while True:
            self.count_call()
            try:
                return fn().data
            except SlackApiError as exc:
                resp = exc.response
                body = resp.data if isinstance(resp.data, dict) else {}
                if resp.status_code == 429 or body.get("error") == "ratelimited":
                    delay = next(delays, None)
                    if delay is not None:
                        http.sleep(http.retry_after_seconds(resp.headers.get("Retry-After"), delay))
                        continue
                raise SlackError(method, str(body.get("error") or f"HTTP {resp.status_code}"),
                                 body.get("needed")) from None

    def cursor_pages(self, method: str, fn: Callable[..., Any], key: str, **args: Any) -> Iterator[Any]:
        cursor = ""
        for _ in bounded_pages(self.ctx.max_pages, method):
            page = self.ask(method, lambda: fn(**args, cursor=cursor) if cursor else fn(**args))
            yield from page.get(key) or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return

    # -- bulk pass ------------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        with self.target(sink, "users") as run:
            client = self.client()
            me = self.ask("auth.test", client.auth_test)
            org = me.get("enterprise_id") or me.get("team_id") or "unknown"
            self.source = f"slack:{org}"
            run.target = self.source
            if not self.teams and me.get("team_id") and not me.get("is_enterprise_install"):
                self.teams = [str(me["team_id"])]
            bad = 0
            try:
                users = [u for active in (True, False) for u in self.cursor_pages(
                    "admin.users.list", client.admin_users_list, "users", limit=1000, is_active=active)]
                make = transform_admin_user
            except SlackError as exc:
                if exc.error not in ADMIN_REFUSALS:
                    raise
                self.admin_api = False
                self.emit_coverage(sink, f"{org}/sessions", "sessions", "partial",
                                   error=f"sessions not shown: {exc} ({NEEDS})")
                users = [m for team in self.teams for m in self.cursor_pages(
                    "users.list", client.users_list, "members", team_id=team, limit=1000)]
                make = transform_member
                run.attributes["fallback"] = "users.list"
            seen: set[str] = set()
            for payload in users:
                try:
                    acc = make(payload, self.source)
                except ValueError:
                    bad += 1
                    continue
                if acc.native_id not in seen:
                    seen.add(acc.native_id)
                    self.workspaces[acc.native_id] = [w for w in acc.attributes["workspaces"] if w]
                    sink.emit(acc)
            if bad:
                run.partial(f"{bad} malformed users skipped")
            run.attributes["users"] = len(seen)

    # -- deep pass ------------------------------------------------------------------------
    def deepen(self, sink: Sink, scope: Scope) -> None:
        prefix = self.source + "|"
        wanted = sorted(uid[len(prefix):] for uid in scope.accounts if uid.startswith(prefix))
        if not wanted or not self.admin_api:
            return
        if self.config.get("sessions", True):
            self.collect_sessions(sink, wanted)
        if self.config.get("access_logs", True):
            self.collect_access_logs(sink, set(wanted))

    def collect_sessions(self, sink: Sink, users: list[str]) -> None:
        teams = self.workspaces
        with self.target(sink, f"{self.source}/sessions", layer="sessions") as run:
            client = self.client()
            for user in users:
                for team in teams.get(user) or self.teams:
                    for payload in self.cursor_pages("admin.users.session.list",
                                                     client.admin_users_session_list, "active_sessions",
                                                     user_id=user, team_id=team, limit=1000):
                        try:
                            sink.emit(transform_session(payload, self.source))
                        except ValueError:
                            run.partial("a malformed session was skipped")
            run.attributes["users"] = len(users)

    def collect_access_logs(self, sink: Sink, users: set[str]) -> None:
        oldest = (self.ctx.now - timedelta(days=int(self.config.get("access_log_days") or 90))).timestamp()
        client = self.client()
        for team in self.teams:
            with self.target(sink, f"{self.source}/{team}/access-logs", layer="sessions") as run:
                try:
                    kept = 0
                    for page in range(1, 101):  # Slack serves at most 100 pages
                        body = self.ask("team.accessLogs", lambda: client.team_accessLogs(
                            team_id=team, count=1000, page=page))
                        logins = body.get("logins") or []
                        for payload in logins:
                            if isinstance(payload, dict) and payload.get("user_id") in users:
                                try:
                                    sink.emit(transform_login(payload, self.source, team))
                                    kept += 1
                                except ValueError:
                                    run.partial("a malformed access log entry was skipped")
                        pages = int((body.get("paging") or {}).get("pages") or 1)
                        last = logins[-1].get("date_last") if logins and isinstance(logins[-1], dict) else None
                        if page >= pages or not logins or (isinstance(last, (int, float)) and last < oldest):
                            break
                    else:
                        run.partial("access logs: more than 100 pages; older entries not read")
                    run.attributes["logins"] = kept
                except SlackError as exc:
                    if exc.error not in ("paid_only", "missing_scope", "not_allowed_token_type"):
                        raise
                    run.partial(f"access logs not shown: {exc}")

"""Google Workspace: what suspending a user leaves behind, and a roster source.

Why: suspending a Workspace user (what most offboarding does) keeps the OAuth grants
they gave third-party apps (Google restores them on reactivation), their app-specific
passwords, and their phones and Chromebooks; and the Reports API shows whether they (or
an app holding their grant) were active after HR's termination date.

What it reads (read-only scopes, a service account with domain-wide delegation acting
as a read-only admin, ``subject``):
- bulk pass: ``users.list`` (``customer``, 500 a page) -> Account per user, with
  ``suspended``, ``archived``, ``lastLoginTime``, aliases. That is all: 40 calls for
  20,000 users;
- deep pass, per account in scope (leavers, found by e-mail or account uid): ``tokens.list``
  (OAuth grants), ``asps.list`` (app passwords), ``mobiledevices.list?query=email:X``,
  ``chromeosdevices.list?query=user:X``, Reports ``activities.list`` for ``login`` and for
  ``token`` ``authorize`` since ``reports_lookback_days`` -> Credential and Activity
  records: six calls per leaver, never one per user of the domain.

A scope the admin console did not delegate, or a privilege the admin lacks, is a
``skipped`` coverage row naming it, and the part it guards is marked ``partial`` on the
main target: a leaver whose grants could not be listed is never ``clean``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from collectors.base import Collector, Scope, TargetRun
from collectors.google_client import AUTH, GoogleApiError, GoogleClient, key_file
from collectors.google_workspace import transform as t
from collectors.revoke import revoke_option
from scanner.core.options import Option
from scanner.core.store import Sink
from scanner.core.model import Account

log = logging.getLogger("residual.collectors.google_workspace")

USERS = AUTH + "admin.directory.user.readonly"
SECURITY = AUTH + "admin.directory.user.security"
MOBILE = AUTH + "admin.directory.device.mobile.readonly"
CHROMEOS = AUTH + "admin.directory.device.chromeos.readonly"
REPORTS = AUTH + "admin.reports.audit.readonly"
SCOPES = [USERS, SECURITY, MOBILE, CHROMEOS, REPORTS]
# the admin privilege each part needs (the Directory answers "Not Authorized" without it)
PRIVILEGE = {USERS: "Users > Read", SECURITY: "Security > User Security Management",
             MOBILE: "Services > Mobile Device Management > Manage Devices and Settings (read)",
             CHROMEOS: "Services > Chrome OS > Manage Chrome OS Devices (read only)",
             REPORTS: "Reports"}

OPTIONS = {
    "customer": Option(str, default="my_customer"),  # the customer id (C0...) or my_customer
    "subject": Option(str, required=True),  # the read-only admin the service account acts as
    "credentials_file": Option(str),  # a service-account key file; default: ADC
    "api_endpoint": Option(str),  # default Google's; tests point it at the fake
    "page_size": Option(int, default=500),
    "reports_lookback_days": Option(int, default=180),  # Reports keep about six months
    "devices": Option(bool, default=True),
    "reports": Option(bool, default=True),
    # write credentials for the session revoker (collectors/google_workspace/revoke.py)
    "revoke": revoke_option(),
}


def make_client(block: dict[str, Any], timeout: float, max_retries: int, max_pages: int,
                on_call: Callable[[], None], scopes: list[str] | None = None,
                base_dir: Path = Path(".")) -> GoogleClient:
    return GoogleClient(scopes=list(scopes or SCOPES), credentials_file=key_file(block, base_dir),
                        subject=block.get("subject"), endpoint=block.get("api_endpoint"),
                        timeout=timeout, max_retries=max_retries, max_pages=max_pages, on_call=on_call)


def list_users(client: GoogleClient, customer: str, page_size: int) -> Iterable[dict[str, Any]]:
    d = client.service("admin", "directory_v1")
    size = max(1, min(500, page_size))
    return client.pages(lambda tok: d.users().list(customer=customer, maxResults=size, pageToken=tok),
                        "users", "users.list")


class GoogleWorkspaceCollector(Collector):
    name = "google_workspace"
    layer = "directory"
    options = OPTIONS

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self._client: GoogleClient | None = None
        self._accounts: dict[str, Account] = {}  # by uid, from the bulk pass

    @property
    def customer(self) -> str:
        return self.config.get("customer") or "my_customer"

    @property
    def source(self) -> str:
        return f"{t.SYSTEM}:{self.customer}"

    def describe(self) -> str:
        return self.source

    def client(self) -> GoogleClient:
        if self._client is None:
            self._client = make_client(self.config, self.ctx.timeout_s, self.ctx.max_retries,
                                       self.ctx.max_pages, self.count_call, base_dir=self.ctx.base_dir)
        return self._client

    # --- bulk --------------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        with self.target(sink, self.customer) as run:
            client = self.client()
            if not self._part_ok(sink, run, client, USERS, "users"):
                return
            users = list_users(client, self.customer, int(self.config.get("page_size") or 500))
            if scope is not None:  # targeted: keep only the users in scope (one listing still)
                users = (u for u in users if _in_scope(u, scope, self.source))
            accounts, bad = t.transform_users(users, self.source)
            if bad:
                run.partial(f"{bad} malformed users skipped")
            sink.emit_all(accounts)
            self._accounts = {a.uid: a for a in accounts}
            run.attributes["users"] = len(accounts)
            run.attributes["missing_scopes"] = sorted(client.missing_scopes)

    # --- deep --------------------------------------------------------------------------
    def deep_accounts(self, scope: Scope) -> list[Account]:
        """The leavers' accounts: by account uid in scope or by a leaver's e-mail; an
        active account nobody in the roster answers for is not asked about here (it is
        ``account.unowned``, and its grants would cost a call per such user)."""
        emails = {e.lower() for e in scope.emails}
        out = []
        for acc in self._accounts.values():
            mine = set(acc.attributes.get("linked_emails") or []) & emails
            if mine or (acc.uid in scope.accounts and acc.status != "active"):
                out.append(acc)
        return sorted(out, key=lambda a: a.login)

    def deepen(self, sink: Sink, scope: Scope) -> None:
        wanted = self.deep_accounts(scope)
        if not wanted:
            return
        with self.target(sink, f"{self.customer}/leavers") as run:
            client = self.client()
            run.attributes["accounts"] = len(wanted)
            parts = [(SECURITY, "tokens and app passwords", self._security)]
            if self.config.get("devices", True):
                parts += [(MOBILE, "mobile devices", self._mobile), (CHROMEOS, "ChromeOS devices", self._chromeos)]
            if self.config.get("reports", True):
                parts += [(REPORTS, "login and token events", self._reports)]
            for scope_url, what, fn in parts:
                if not self._part_ok(sink, run, client, scope_url, what):
                    continue
                try:
                    for acc in wanted:
                        fn(client, sink, run, acc)
                except GoogleApiError as exc:
                    if not exc.skippable:
                        raise
                    self._skip(sink, run, what, exc, scope_url)

    def _part_ok(self, sink: Sink, run: TargetRun, client: GoogleClient, scope_url: str, what: str) -> bool:
        if client.has_scope(scope_url):
            return True
        self.emit_coverage(sink, f"{self.customer}/{what}", self.layer, "skipped",
                           error=f"scope {scope_url} is not delegated to the service account "
                                 "(Admin console > Security > API controls > Domain-wide delegation)")
        run.partial(f"{what} not checked: scope {scope_url} not delegated")
        return False

    def _skip(self, sink: Sink, run: TargetRun, what: str, exc: GoogleApiError, scope_url: str) -> None:
        need = (f"scope {' or '.join(exc.scopes) or scope_url}" if exc.kind == "scope"
                else f"admin privilege {PRIVILEGE.get(scope_url, '?')} for {self.config.get('subject')}")
        self.emit_coverage(sink, f"{self.customer}/{what}", self.layer, "skipped", error=f"{exc} (needs {need})")
        run.partial(f"{what} not checked ({exc}): needs {need}")

    def _security(self, client: GoogleClient, sink: Sink, run: TargetRun, acc: Account) -> None:
        d = client.service("admin", "directory_v1")
        for method, fn in (("tokens", t.transform_token), ("asps", t.transform_asp)):
            try:
                body = client.execute(getattr(d, method)().list(userKey=acc.native_id), f"{method}.list")
            except GoogleApiError as exc:
                if exc.kind == "not_found":  # deleted since the bulk pass
                    continue
                raise
            self._emit(sink, run, body.get("items") or [], fn, acc, method)

    def _mobile(self, client: GoogleClient, sink: Sink, run: TargetRun, acc: Account) -> None:
        d = client.service("admin", "directory_v1")
        devices = client.pages(lambda tok: d.mobiledevices().list(
            customerId=self.customer, query=f"email:{acc.login}", maxResults=100, pageToken=tok),
            "mobiledevices", "mobiledevices.list")
        self._emit(sink, run, devices, t.transform_mobile, acc, "mobile device")

    def _chromeos(self, client: GoogleClient, sink: Sink, run: TargetRun, acc: Account) -> None:
        d = client.service("admin", "directory_v1")
        devices = client.pages(lambda tok: d.chromeosdevices().list(
            customerId=self.customer, query=f"user:{acc.login}", maxResults=300, pageToken=tok),
            "chromeosdevices", "chromeosdevices.list")
        self._emit(sink, run, devices, t.transform_chromeos, acc, "ChromeOS device")

    def _reports(self, client: GoogleClient, sink: Sink, run: TargetRun, acc: Account) -> None:
        r = client.service("admin", "reports_v1")
        days = max(1, int(self.config.get("reports_lookback_days") or 180))
        start = (self.ctx.now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for app, event in (("login", None), ("token", "authorize")):
            extra = {"eventName": event} if event else {}
            items = client.pages(lambda tok: r.activities().list(
                userKey=acc.login, applicationName=app, startTime=start, maxResults=1000,
                pageToken=tok, **extra), "items", f"activities.list {app}")
            for a in items:
                try:
                    sink.emit_all(t.transform_activity(a, self.source, acc))
                except ValueError:
                    run.partial(f"a malformed {app} activity of {acc.login} was skipped")

    def _emit(self, sink: Sink, run: TargetRun, items: Iterable[Any], fn: Callable, acc: Account, what: str) -> None:
        for item in items:
            try:
                sink.emit(fn(item, self.source, acc))
            except ValueError:
                run.partial(f"a malformed {what} of {acc.login} was skipped")


def _in_scope(u: Any, scope: Scope, source: str) -> bool:
    if not isinstance(u, dict):
        return False
    emails = {str(u.get("primaryEmail") or "").lower(), *(str(a).lower() for a in u.get("aliases") or [])}
    return bool(emails & {e.lower() for e in scope.emails}) or f"{source}|{u.get('id')}" in scope.accounts \
        or bool(emails & {x.lower() for x in scope.logins_for(t.SYSTEM)})

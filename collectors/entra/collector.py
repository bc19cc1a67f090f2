"""Microsoft Entra ID (Microsoft Graph v1.0): the directory's own residue of a leaver.

Why: Entra issues the refresh tokens and session cookies a leaver's devices keep, the
OAuth consents that let third-party apps act as them, and the app registrations whose
secrets outlive their owners (an owner can add a new secret at any time: an app whose
owner left is a persistence path). Disabling the account stops new sign-ins; it does not
revoke what was already issued.

What it reads (GET only; ``$batch`` carries GETs only):
- bulk pass, a few list calls per thousand objects (``$top=999``, ``$select``):
  ``/users`` (incl. ``signInSessionsValidFromDateTime`` and ``employeeLeaveDateTime``) ->
  Account per user; ``/applications`` and ``/servicePrincipals`` with
  ``$expand=owners`` -> Account per app/SP (owners in attributes; resolve links the app
  to its first owner) and Credential per ``passwordCredentials`` (client_secret) and
  ``keyCredentials`` (client_cert) entry;
- deep pass, per leaver only (accounts in scope), six GETs each, twenty to a ``$batch``:
  ``oauth2PermissionGrants`` (Credential oauth_grant), ``appRoleAssignments`` (Grant
  app_role), ``registeredDevices`` and ``ownedDevices`` (Credential device), their
  newest sign-ins (``/auditLogs/signIns``, Activity) and their own directory actions
  (``/auditLogs/directoryAudits`` initiated by them: consents, secrets added; Activity);
- targeted (``verify --live``): the users in scope by id, UPN or mail, and the
  applications and service principals they own (``ownedObjects``), then the deep pass.

A part the app's permissions or the tenant's licence do not allow (403
``Authorization_RequestDenied``, ``Authentication_MSGraphPermissionMissing``,
``Authentication_RequestFromNonPremiumTenantOrB2CTenant``) is a ``skipped`` coverage
row naming the reason; any other failure of a part makes the tenant ``partial``; a
failure of the user listing fails it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import quote

from collectors.base import Collector, Scope, TargetRun
from collectors.entra import transform as t
from collectors.entra.auth import AUTH_OPTIONS, GRAPH_SCOPE, build_credential, token_roles
from collectors.entra.http import GraphError, MicrosoftClient
from scanner.core.options import Option
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.entra")

GRAPH_URL = "https://graph.microsoft.com/v1.0"
LIFECYCLE_READ = {"User-LifeCycleInfo.Read.All", "User-LifeCycleInfo.ReadWrite.All"}
# the per-leaver parts of the deep pass: name -> (relative url template, what it needs)
DEEP_PARTS = {
    "oauth2PermissionGrants": ("/users/{id}/oauth2PermissionGrants", "Directory.Read.All"),
    "appRoleAssignments": ("/users/{id}/appRoleAssignments", "Directory.Read.All"),
    "registeredDevices": ("/users/{id}/registeredDevices?$select=" + t.DEVICE_SELECT, "User.Read.All"),
    "ownedDevices": ("/users/{id}/ownedDevices?$select=" + t.DEVICE_SELECT, "User.Read.All"),
    "signIns": ("/auditLogs/signIns?$filter=userId eq '{id}'&$top=100",
                "AuditLog.Read.All and Entra ID P1/P2"),
    "directoryAudits": ("/auditLogs/directoryAudits?$filter=initiatedBy/user/id eq '{id}'&$top=100",
                        "AuditLog.Read.All"),
}


def graph_client(block: dict[str, Any], ctx: Any, on_call: Any, credential: Any = None) -> MicrosoftClient:
    return MicrosoftClient(block.get("base_url") or GRAPH_URL,
                           credential or build_credential(block, ctx.max_retries),
                           block.get("graph_scope") or GRAPH_SCOPE, timeout=ctx.timeout_s,
                           max_retries=ctx.max_retries, max_pages=ctx.max_pages,
                           verify=block.get("ca_bundle") or True, on_call=on_call)


class EntraCollector(Collector):
    name = "entra"
    layer = "directory"
    options = {
        **AUTH_OPTIONS,
        "name": Option(str),  # the label (default: the tenant id): entra:<name>
        "base_url": Option(str),  # Graph root, default https://graph.microsoft.com/v1.0
        "graph_scope": Option(str),  # default https://graph.microsoft.com/.default
        "page_size": Option(int, default=999),
        "deep": Option(bool, default=True),  # the per-leaver parts (grants, devices, sign-ins)
        "revoke": Option(dict),  # write credential for the session revoker (collectors/entra/revoke.py)
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self._client: MicrosoftClient | None = None
        self._names: dict[str, str] = {}  # SP object id -> display name (for grants)

    @property
    def label(self) -> str:
        return self.config.get("name") or self.config["tenant_id"]

    @property
    def source(self) -> str:
        return f"entra:{self.label}"

    def describe(self) -> str:
        return self.source

    def client(self) -> MicrosoftClient:
        if self._client is None:
            self._client = graph_client(self.config, self.ctx, self.count_call)
        return self._client

    @property
    def top(self) -> str:
        return str(max(1, min(999, int(self.config.get("page_size") or 999))))

    # --- bulk pass ------------------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        if scope is not None:
            return self.collect_scoped(sink, scope)
        with self.target(sink, self.label) as run:
            client = self.client()
            self.check_roles(sink, client)
            users = [u for page in client.pages("/users", {"$select": t.USER_SELECT, "$top": self.top})
                     for u in page]
            accounts, bad = t.transform_users(users, self.source)
            if bad:
                run.partial(f"{bad} malformed users skipped")
                run.attributes["malformed_users"] = bad
            sink.emit_all(accounts)
            run.attributes["users"] = len(accounts)
            for kind, path, select in (("application", "/applications", t.APP_SELECT),
                                       ("servicePrincipal", "/servicePrincipals", t.SP_SELECT)):
                self.collect_apps(client, sink, run, kind, path,
                                  {"$select": select, "$expand": t.OWNER_EXPAND, "$top": self.top})
            if client.waited:
                run.attributes["throttle_waits"] = len(client.waited)
        # the sessions layer is read from the same user listing (signInSessionsValidFrom...)
        read = "users" in run.attributes
        self.emit_coverage(sink, f"{self.label}/sessions", "sessions",
                           ("partial" if run.attributes.get("malformed_users") else "ok") if read else "failed",
                           None if read else f"the user listing failed: {run.error}",
                           records=run.attributes.get("users", 0))

    def check_roles(self, sink: Sink, client: MicrosoftClient) -> None:
        """Graph answers ``employeeLeaveDateTime`` with null, not an error, when the app
        lacks User-LifeCycleInfo.Read.All: say so instead of trusting the nulls."""
        roles = token_roles(client.token())
        if roles is not None and not roles & LIFECYCLE_READ:
            self.emit_coverage(sink, f"{self.label}/users.employeeLeaveDateTime", self.layer, "skipped",
                               "employeeLeaveDateTime reads as null without User-LifeCycleInfo.Read.All")

    def collect_apps(self, client: MicrosoftClient, sink: Sink, run: TargetRun, kind: str,
                     path: str, params: dict[str, Any]) -> None:
        count = bad = 0
        try:
            for page in client.pages(path, params):
                for payload in page:
                    try:
                        acc, creds = t.transform_app(payload, self.source, self.ctx.now,
                                                     self.config["tenant_id"], kind)
                    except ValueError:
                        bad += 1
                        continue
                    self._names[acc.native_id] = acc.login
                    sink.emit(acc)
                    sink.emit_all(creds)
                    count += 1
        except GraphError as exc:
            self.part_failed(sink, run, path.strip("/"), exc, "Application.Read.All")
        if bad:
            run.partial(f"{bad} malformed {kind} objects skipped")
        run.attributes[path.strip("/")] = count

    def part_failed(self, sink: Sink, run: TargetRun, part: str, exc: GraphError, needs: str) -> None:
        """A refused part is skipped with its reason and what it needs; anything else
        makes the run partial."""
        if exc.refusal:
            self.emit_coverage(sink, f"{self.label}/{part}", self.layer, "skipped",
                               f"{exc} ({exc.refusal}; needs {needs})")
        else:
            run.partial(f"{part}: {exc}")

    # --- targeted ---------------------------------------------------------------------------------
    def collect_scoped(self, sink: Sink, scope: Scope) -> None:
        with self.target(sink, self.label) as run:
            client = self.client()
            prefix = self.source + "|"
            keys = [u[len(prefix):] for u in sorted(scope.accounts) if u.startswith(prefix)]
            keys += sorted(scope.logins_for("entra") | scope.logins_for(self.source))
            keys += sorted(e for e in scope.emails if e not in keys)
            reqs = [(str(i), f"/users/{quote(k, safe='@')}?$select={t.USER_SELECT}")
                    for i, k in enumerate(dict.fromkeys(keys))]
            found: dict[str, Any] = {}
            for rid, (status, body) in client.batch(reqs).items():
                if status == 200 and isinstance(body, dict):
                    found.setdefault(body.get("id"), body)
                elif status != 404:
                    run.partial(f"user lookup: HTTP {status}")
            accounts, bad = t.transform_users(found.values(), self.source)
            sink.emit_all(accounts)
            run.attributes.update({"scoped": True, "users": len(accounts)})
            owned = client.batch([(a.native_id, f"/users/{a.native_id}/ownedObjects") for a in accounts])
            for uid, (status, body) in owned.items():
                if status != 200:
                    run.partial(f"ownedObjects of {uid}: HTTP {status}")
                    continue
                for obj in body.get("value") or []:
                    kind = str((obj or {}).get("@odata.type", "")).rsplit(".", 1)[-1]
                    if kind not in ("application", "servicePrincipal"):
                        continue
                    # owners are not expanded here: the owner is the scoped user
                    obj = {**obj, "owners": [{"id": uid, "@odata.type": "#microsoft.graph.user",
                                              **{k: v for a in accounts if a.native_id == uid
                                                 for k, v in (("userPrincipalName", a.login),
                                                              ("mail", a.email))}}]}
                    try:
                        acc, creds = t.transform_app(obj, self.source, self.ctx.now,
                                                     self.config["tenant_id"], kind)
                    except ValueError:
                        continue
                    sink.emit(acc)
                    sink.emit_all(creds)
        self.emit_coverage(sink, f"{self.label}/sessions", "sessions",
                           "failed" if run.status == "failed" else "ok", run.error if run.status == "failed" else None)

    # --- deep pass ----------------------------------------------------------------------------------
    def deepen(self, sink: Sink, scope: Scope) -> None:
        if not self.config.get("deep", True):
            return
        prefix = self.source + "|"
        users = sorted(u[len(prefix):] for u in scope.accounts
                       if u.startswith(prefix) and ":" not in u[len(prefix):])
        if not users:
            return
        with self.target(sink, f"{self.label}/leavers") as run:
            client = self.client()
            reqs = [(f"{part}|{uid}", url.format(id=uid))
                    for uid in users for part, (url, _) in DEEP_PARTS.items()]
            answers = client.batch(reqs)
            refused: dict[str, str] = {}
            devices: dict[tuple[str, str], tuple[Any, list[str]]] = {}
            for key, (status, body) in answers.items():
                part, uid = key.split("|", 1)
                if status != 200:
                    exc = GraphError(f"GET {DEEP_PARTS[part][0].split('?')[0]}: HTTP {status}",
                                     status, _code(body))
                    if exc.refusal:
                        refused.setdefault(part, f"{exc} {_code(body) or ''}: {exc.refusal} "
                                                 f"(needs {DEEP_PARTS[part][1]})")
                    elif status != 404:  # a user deleted since the bulk pass has nothing left
                        run.partial(f"{part} of {uid}: HTTP {status} {_code(body) or ''}".strip())
                    continue
                items = body.get("value") if isinstance(body, dict) else None
                if not isinstance(items, list):
                    run.partial(f"{part} of {uid}: malformed answer")
                    continue
                if part.endswith("Devices"):  # one record per device, with both relations
                    for d in items:
                        did = d.get("id") if isinstance(d, dict) else None
                        entry = devices.setdefault((uid, str(did)), (d, []))
                        entry[1].append("registered" if part == "registeredDevices" else "owned")
                    continue
                self.load_part(sink, run, part, uid, items)
            for (uid, _), (d, rels) in sorted(devices.items(), key=lambda kv: kv[0]):
                try:
                    sink.emit(t.transform_device(d, self.source, f"{self.source}|{uid}", rels))
                except ValueError:
                    run.partial(f"a malformed device of {uid} was skipped")
            for part, why in sorted(refused.items()):
                layer = "sessions" if part == "signIns" else self.layer
                self.emit_coverage(sink, f"{self.label}/{part}", layer, "skipped", why)
            run.attributes.update({"leavers": len(users), "batched_requests": len(reqs)})

    def load_part(self, sink: Sink, run: TargetRun, part: str, uid: str, items: list[Any]) -> None:
        holder = f"{self.source}|{uid}"
        for item in items:
            try:
                if part == "oauth2PermissionGrants":
                    sink.emit(t.transform_grant(item, self.source, holder, self._names))
                elif part == "appRoleAssignments":
                    sink.emit(t.transform_app_role(item, self.source, holder))
                elif part == "signIns":
                    sink.emit(t.transform_sign_in(item, self.source))
                else:
                    sink.emit(t.transform_audit(item, self.source))
            except ValueError:
                run.partial(f"a malformed {part} item of {uid} was skipped")


def _code(body: Any) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("code")) if isinstance(err, dict) and err.get("code") else None



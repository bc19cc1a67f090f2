"""Azure Resource Manager: who holds Azure RBAC roles, per subscription.

Why: an Azure role assignment names an Entra object id (a user, a group, a service
principal) and survives the user being disabled or deleted; a service principal whose
owner left keeps its roles, and the owner can still add a secret to it. PIM eligible
assignments let their principal activate the role on demand.

What it reads (GET only), per subscription (``subscriptions``, default: every
subscription the credential can read, ``GET /subscriptions``):
- ``roleDefinitions`` once (role names), ``roleAssignments`` (``nextLink`` paging) ->
  Grant(via="role_assignment", principal = the Entra object id);
- ``roleEligibilityScheduleInstances`` (PIM) -> Grant(via="pim_eligible"); refused (no
  ``Microsoft.Authorization/roleEligibilityScheduleInstances/read``, no P2) -> skipped;
- targeted (``verify --live``): only the Entra objects in scope, each by
  ``$filter=principalId eq '<id>'`` (assignments and eligibility).

A full listing costs one call per thousand assignments; filtering by principal pays off
only when few principals are asked about, which is the targeted case.
"""

from __future__ import annotations

from typing import Any

from collectors.azure import transform as t
from collectors.base import Collector, Scope, TargetRun
from collectors.entra.auth import ARM_SCOPE, AUTH_OPTIONS, build_credential
from collectors.entra.http import GraphError, MicrosoftClient
from scanner.core.options import Option
from scanner.core.store import Sink

ARM_URL = "https://management.azure.com"
API = {"subscriptions": "2022-12-01", "authorization": "2022-04-01", "pim": "2020-10-01"}
AUTHZ = "/providers/Microsoft.Authorization"


class AzureCollector(Collector):
    name = "azure"
    layer = "cloud"
    options = {
        **AUTH_OPTIONS,
        "name": Option(str),  # label, default the tenant id
        "subscriptions": Option(list, default=[], item_type=str),  # default: all readable
        "arm_url": Option(str),  # default https://management.azure.com
        "arm_scope": Option(str),  # default https://management.azure.com/.default
        "pim": Option(bool, default=True),
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self._client: MicrosoftClient | None = None

    def describe(self) -> str:
        return f"azure:{self.config.get('name') or self.config['tenant_id']}"

    def client(self) -> MicrosoftClient:
        if self._client is None:
            self._client = MicrosoftClient(
                self.config.get("arm_url") or ARM_URL,
                build_credential(self.config, self.ctx.max_retries),
                self.config.get("arm_scope") or ARM_SCOPE, timeout=self.ctx.timeout_s,
                max_retries=self.ctx.max_retries, max_pages=self.ctx.max_pages,
                verify=self.config.get("ca_bundle") or True, on_call=self.count_call,
                next_key="nextLink")
        return self._client

    def subscriptions(self, sink: Sink) -> list[dict[str, Any]] | None:
        """The subscriptions to read: configured ones as given, else every readable one."""
        wanted = self.config.get("subscriptions") or []
        if wanted:
            return [{"subscriptionId": s, "displayName": s} for s in wanted]
        with self.target(sink, "subscriptions") as run:
            subs = list(self.client().items("/subscriptions", {"api-version": API["subscriptions"]}))
            run.attributes["subscriptions"] = len(subs)
            if not subs:
                run.status, run.error = "failed", "the credential can read no subscription (needs Reader)"
            return [s for s in subs if isinstance(s, dict) and s.get("subscriptionId")]
        return None  # the listing failed: its coverage row says so

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        principals = None
        if scope is not None:  # targeted: the Entra objects in scope
            principals = sorted({u.split("|", 1)[1].lower() for u in scope.accounts
                                 if u.startswith("entra:") and ":" not in u.split("|", 1)[1]})
        for sub in self.subscriptions(sink) or []:
            sid = sub["subscriptionId"]
            with self.target(sink, sid) as run:
                self.collect_subscription(sink, run, sub, principals)

    def collect_subscription(self, sink: Sink, run: TargetRun, sub: dict[str, Any],
                             principals: list[str] | None) -> None:
        client = self.client()
        sid = sub["subscriptionId"]
        source = f"azure:{sid}"
        base = f"/subscriptions/{sid}{AUTHZ}"
        sink.emit(t.transform_subscription(sub, source))
        roles: dict[str, str] = {}
        try:
            roles = t.role_names(list(client.items(f"{base}/roleDefinitions",
                                                   {"api-version": API["authorization"]})))
        except GraphError as exc:
            self.part_failed(sink, run, sid, "roleDefinitions", exc,
                             "Microsoft.Authorization/roleDefinitions/read (Reader)")
        filters = [None] if principals is None else [f"principalId eq '{p}'" for p in principals]
        scopes: set[str] = set()
        count = 0
        for flt in filters:
            params = {"api-version": API["authorization"], **({"$filter": flt} if flt else {})}
            for item in client.items(f"{base}/roleAssignments", params):
                count += self.load(sink, run, item, source, roles, "role_assignment", scopes)
        run.attributes["role_assignments"] = count
        if self.config.get("pim", True):
            eligible = 0
            try:
                for flt in filters:
                    params = {"api-version": API["pim"], **({"$filter": flt} if flt else {})}
                    for item in client.items(f"{base}/roleEligibilityScheduleInstances", params):
                        eligible += self.load(sink, run, item, source, roles, "pim_eligible", scopes)
            except GraphError as exc:
                self.part_failed(sink, run, sid, "roleEligibilityScheduleInstances", exc,
                                 "Microsoft.Authorization/roleEligibilityScheduleInstances/read (Reader)")
            run.attributes["pim_eligible"] = eligible
        for s in sorted(scopes):
            if s.count("/") > 2:  # the subscription itself is already emitted
                sink.emit(t.scope_resource(s, source, sub.get("displayName") or sid))

    def load(self, sink: Sink, run: TargetRun, item: Any, source: str, roles: dict[str, str],
             via: str, scopes: set[str]) -> int:
        try:
            g = t.transform_assignment(item, source, roles, via)
        except ValueError:
            run.partial(f"a malformed {via} was skipped")
            return 0
        sink.emit(g)
        scopes.add(g.attributes["scope"])
        return 1

    def part_failed(self, sink: Sink, run: TargetRun, sid: str, part: str, exc: GraphError,
                    needs: str) -> None:
        if exc.refusal:
            self.emit_coverage(sink, f"{sid}/{part}", self.layer, "skipped",
                               f"{exc} ({exc.refusal}; needs {needs})")
        else:
            run.partial(f"{part}: {exc}")

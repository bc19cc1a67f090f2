"""Azure RBAC: role assignments and PIM eligibility that name a leaver, or a service
principal a leaver owns.

ARM names principals by Entra object id; the entra collector's records carry the same
ids as native ids, so the rules find the person through the Entra account (the user's
own, or the owners of the service principal and of its application). Without an entra
collector configured, nobody behind an object id is known and these rules say nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator

from rules.base import CSF_AA05, NHI1, NHI5, Hit, rule
from rules.entra import leaver_of, owner_leavers
from scanner.engine import RuleContext
from scanner.core.model import Account, Grant, Identity

PRIVILEGED = {"Owner", "User Access Administrator", "Role Based Access Control Administrator"}


def _entra_objects(ctx: RuleContext) -> tuple[dict[str, Account], dict[str, Account]]:
    by_id, apps = {}, {}
    for acc in ctx.accounts.values():
        if acc.system == "entra":
            by_id[acc.native_id.lower()] = acc
            if acc.kind == "app" and acc.attributes.get("app_id"):
                apps[str(acc.attributes["app_id"]).lower()] = acc
    return by_id, apps


def _leavers_behind(ctx: RuleContext, g: Grant, by_id: dict, apps: dict
                    ) -> list[tuple[Identity, Account, str]]:
    """(leaver, the Entra object, how) for the principal of an assignment."""
    acc = by_id.get(g.principal.lower())
    if acc is None:
        return []
    if acc.kind == "user":
        ident = leaver_of(ctx, acc.uid)
        return [(ident, acc, "assigned to the leaver")] if ident else []
    out = [(i, acc, f"assigned to {acc.login}, owned by the leaver") for _, i in owner_leavers(ctx, acc)]
    app = apps.get(str(acc.attributes.get("app_id") or "").lower())
    if app is not None:  # the application's owners can add secrets the SP signs in with
        seen = {i.id for i, _, _ in out}
        out += [(i, acc, f"assigned to {acc.login}, whose application the leaver owns")
                for _, i in owner_leavers(ctx, app) if i.id not in seen]
    return out


def _hits(ctx: RuleContext, via: str, now: datetime) -> Iterator[tuple[Grant, Identity, Account, str]]:
    by_id, apps = _entra_objects(ctx)
    for g in ctx.grants:
        if g.system != "azure" or g.via != via:
            continue
        end = g.attributes.get("end_at")
        if end and datetime.fromisoformat(end) <= now:
            continue
        for ident, acc, how in _leavers_behind(ctx, g, by_id, apps):
            yield g, ident, acc, how


@rule(id="azure.role_assignment_of_leaver",
      title="Azure role assignment names a leaver or a service principal they own",
      severity="high",
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Delete the role assignment (az role assignment delete --ids ...); for a "
                  "service principal, first give it a current owner and rotate its secrets.")
def role_assignment_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A role assignment outlives the user's account (it stays, naming the object id,
    even after deletion) and a service principal's roles are the leaver's as long as they
    can add a secret to it. Critical for Owner or User Access Administrator while the
    principal can still sign in."""
    for g, ident, acc, how in _hits(ctx, "role_assignment", ctx.now):
        privileged = g.permission in PRIVILEGED and acc.status == "active"
        yield Hit(subject=f"grant:{g.source}|{g.principal}->{g.resource}:{g.permission}", system="azure",
                  object_kind="role_assignment", object_id=str(g.attributes.get("assignment_id")),
                  object_name=f"{g.permission} on {g.attributes.get('scope')}", identity=ident.id,
                  title=f"{g.permission} on {g.attributes.get('scope')}: {how} ({ident.id})",
                  severity="critical" if privileged else None,
                  evidence={"role": g.permission, "scope": g.attributes.get("scope"), "principal": acc.login,
                            "principal_id": g.principal, "principal_type": g.attributes.get("principal_type"),
                            "how": how, "assignment_id": g.attributes.get("assignment_id")},
                  path=[ident.node, acc.node])


@rule(id="azure.pim_eligible_leaver",
      title="PIM-eligible Azure role of a leaver",
      severity="medium",
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Remove the eligible assignment (Privileged Identity Management > Azure "
                  "resources, or a roleEligibilityScheduleRequest with requestType AdminRemove).")
def pim_eligible_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """An eligible role is one activation away from standing access; it is not expired."""
    for g, ident, acc, how in _hits(ctx, "pim_eligible", ctx.now):
        yield Hit(subject=f"grant:{g.source}|{g.principal}->{g.resource}:{g.permission}:eligible",
                  system="azure", object_kind="pim_eligibility", object_id=str(g.attributes.get("assignment_id")),
                  object_name=f"{g.permission} on {g.attributes.get('scope')} (eligible)", identity=ident.id,
                  title=f"{ident.id} is eligible for {g.permission} on {g.attributes.get('scope')}",
                  severity="high" if acc.status == "active" else None,
                  evidence={"role": g.permission, "scope": g.attributes.get("scope"), "until": g.attributes.get("end"),
                            "principal_id": g.principal, "how": how,
                            "role_definition_id": g.attributes.get("role_definition_id"),
                            "schedule_id": g.attributes.get("schedule_id")},
                  path=[ident.node, acc.node])

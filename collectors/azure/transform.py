"""Pure transforms: Azure Resource Manager payloads -> inventory records (no I/O).

A role assignment becomes a Grant whose ``principal`` is the Entra object id ARM names
(``properties.principalId``): the entra collector's records use the same object ids as
native ids, so a rule ties the two without either collector knowing the other.
"""

from __future__ import annotations

from typing import Any

from collectors.entra.transform import ts
from scanner.core.model import Grant, Resource, make_uid

SYSTEM = "azure"


def role_names(payloads: list[Any]) -> dict[str, str]:
    """roleDefinitions -> {role definition GUID (lower case): roleName}."""
    out = {}
    for d in payloads:
        if isinstance(d, dict) and d.get("name"):
            out[str(d["name"]).lower()] = str((d.get("properties") or {}).get("roleName") or d["name"])
    return out


def role_id(definition_id: str) -> str:
    return definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def transform_subscription(p: Any, source: str) -> Resource:
    if not isinstance(p, dict) or not p.get("subscriptionId"):
        raise ValueError("subscription without subscriptionId")
    return Resource(system=SYSTEM, source=source, native_id=f"/subscriptions/{p['subscriptionId']}",
                    kind="subscription", name=str(p.get("displayName") or p["subscriptionId"]),
                    attributes={"state": p.get("state"), "tenant_id": p.get("tenantId")})


def transform_assignment(p: Any, source: str, roles: dict[str, str], via: str = "role_assignment") -> Grant:
    """A role assignment (``via="role_assignment"``) or a PIM eligibility schedule
    instance (``via="pim_eligible"``: the principal may activate the role itself)."""
    if not isinstance(p, dict) or not p.get("id") or not isinstance(p.get("properties"), dict):
        raise ValueError("role assignment without id or properties")
    props = p["properties"]
    principal = props.get("principalId")
    scope = props.get("scope")
    if not principal or not scope:
        raise ValueError("role assignment without principalId or scope")
    rid = role_id(str(props.get("roleDefinitionId") or ""))
    expanded = props.get("expandedProperties") if isinstance(props.get("expandedProperties"), dict) else {}
    name = roles.get(rid) or ((expanded.get("roleDefinition") or {}).get("displayName")) or rid
    return Grant(system=SYSTEM, source=source, principal=str(principal).lower(),
                 resource=make_uid(source, str(scope)), permission=name, via=via,
                 attributes={"assignment_id": p["id"], "name": p.get("name"),
                             "principal_type": props.get("principalType"), "role_definition_id": rid,
                             "scope": scope, "created_by": props.get("createdBy"),
                             "created_on": props.get("createdOn"),
                             "start": props.get("startDateTime"), "end": props.get("endDateTime"),
                             "end_at": (ts(props.get("endDateTime")).isoformat()
                                        if ts(props.get("endDateTime")) else None),
                             "schedule_id": props.get("roleEligibilityScheduleId")})


def scope_resource(scope: str, source: str, sub_name: str) -> Resource:
    kind = "subscription" if scope.count("/") == 2 else \
        ("resource_group" if "/resourceGroups/" in scope and scope.count("/") == 4 else "resource")
    name = sub_name if kind == "subscription" else scope.rstrip("/").rsplit("/", 1)[-1]
    return Resource(system=SYSTEM, source=source, native_id=scope, kind=kind, name=name)

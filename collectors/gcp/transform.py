"""Pure transforms: IAM, Resource Manager, Cloud Asset and Logging payloads -> records.

Shapes: ``../shared/reference/api-samples/gcp/`` (ServiceAccount, ServiceAccountKey,
Project, Policy, IamPolicySearchResult) and, for audit entries, the AuditLog LogEntry of
``google.iam.admin.v1.CreateServiceAccountKey``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from scanner.core.timeparse import timestamp as ts  # the one lenient payload-time parser
from scanner.core.model import Account, Credential, Grant, Resource, make_uid

SYSTEM = "gcp"
NEVER = datetime(9999, 1, 1).year  # validBeforeTime 9999-12-31: the key never expires
CRM = "//cloudresourcemanager.googleapis.com/"
CREATE_KEY = "google.iam.admin.v1.CreateServiceAccountKey"
_OWNER = re.compile(r"owner\s*[:=]\s*([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.I)


def transform_container(p: Any, source: str, kind: str) -> Resource:
    """A Project, Folder or Organization -> Resource (native id: the policy's resource
    name, ``projects/<projectId>``, ``folders/N``, ``organizations/N``)."""
    if not isinstance(p, dict) or not p.get("name"):
        raise ValueError(f"{kind} without name")
    native = f"projects/{p['projectId']}" if kind == "project" and p.get("projectId") else str(p["name"])
    return Resource(system=SYSTEM, source=source, native_id=native, kind=kind,
                    name=str(p.get("projectId") or p.get("displayName") or p["name"]),
                    updated_at=ts(p.get("updateTime")),
                    attributes={"resource_name": p["name"], "parent": p.get("parent"),
                                "state": p.get("state"), "display_name": p.get("displayName"),
                                "project_number": str(p["name"]).split("/")[-1] if kind == "project" else None})


def owner_of(description: str | None) -> str | None:
    m = _OWNER.search(description or "")
    return m.group(1).lower() if m else None


def transform_service_account(sa: Any, source: str) -> Account:
    """A ServiceAccount -> Account(kind="service_account"); an ``owner: <e-mail>`` in its
    description becomes the ``owner`` tag resolve links the accountable person by."""
    if not isinstance(sa, dict) or not sa.get("email"):
        raise ValueError("service account without email")
    email = str(sa["email"]).lower()
    owner = owner_of(sa.get("description"))
    project = sa.get("projectId") or email.split("@", 1)[-1].split(".", 1)[0]
    return Account(system=SYSTEM, source=source, native_id=email, login=email, kind="service_account",
                   status="disabled" if sa.get("disabled") else "active",
                   attributes={"project": project, "unique_id": sa.get("uniqueId") or sa.get("oauth2ClientId"),
                               "display_name": sa.get("displayName"), "description": sa.get("description"),
                               "tags": {"owner": owner} if owner else {},
                               "system_managed": email.endswith(("gserviceaccount.com",)) and (
                                   "-compute@developer." in email or "@cloudservices." in email
                                   or "@gcp-sa-" in email)})


def service_account_from_asset(r: Any) -> dict[str, Any]:
    """A Cloud Asset ``iam.googleapis.com/ServiceAccount`` search result in the shape of
    an IAM ServiceAccount (the fields the transform reads)."""
    if not isinstance(r, dict):
        raise ValueError("asset result is not an object")
    attrs = r.get("additionalAttributes") if isinstance(r.get("additionalAttributes"), dict) else {}
    name = str(r.get("name") or "")
    m = re.match(r"//iam\.googleapis\.com/projects/([^/]+)/serviceAccounts/(.+)$", name)
    if not attrs.get("email") or not m:
        raise ValueError("service-account asset without email")
    return {"email": attrs["email"], "projectId": m.group(1), "uniqueId": m.group(2),
            "displayName": r.get("displayName"), "description": r.get("description"),
            "disabled": r.get("state") == "DISABLED"}


def key_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def transform_key(k: Any, source: str, holder: Account, creators: dict[str, dict[str, Any]]) -> Credential | None:
    """A ServiceAccountKey -> Credential(kind="access_key"); system-managed keys (Google
    rotates them) give None. ``creators``: key id -> {principal, at, insert_id} from the
    audit log; a key without an entry (older than the log's retention) has an unknown
    creator, never "nobody"."""
    if not isinstance(k, dict) or not k.get("name"):
        raise ValueError("key without name")
    if k.get("keyType") == "SYSTEM_MANAGED":
        return None
    kid = key_id(str(k["name"]))
    after, before = ts(k.get("validAfterTime")), ts(k.get("validBeforeTime"))
    never = before is None or before.year >= NEVER
    created = creators.get(kid) or {}
    project = holder.attributes.get("project")
    return Credential(
        system=SYSTEM, source=source, native_id=f"projects/{project}/serviceAccounts/{holder.native_id}/keys/{kid}",
        kind="access_key", holder=holder.uid, name=kid,
        status="inactive" if k.get("disabled") else "active",
        created_at=after, expires_at=None if never else before,
        attributes={"key_id": kid, "service_account": holder.native_id, "project": project,
                    "key_type": k.get("keyType"), "key_origin": k.get("keyOrigin"),
                    "key_algorithm": k.get("keyAlgorithm"), "disabled": bool(k.get("disabled")),
                    "disable_reason": k.get("disableReason"), "never_expires": never,
                    "valid_after": k.get("validAfterTime"), "valid_before": k.get("validBeforeTime"),
                    "created_by": created.get("principal"), "created_by_event": created.get("insert_id"),
                    "created_by_known": bool(created), "last_used_unknown": True})


def key_last_auth(activities: Iterable[Any]) -> dict[str, datetime | None]:
    """Activity Analyzer ``serviceAccountKeyLastAuthentication`` activities -> key id ->
    when the key last authenticated. A malformed activity is left out (the key then
    reads as not seen authenticating, which the caller counts as partial)."""
    out: dict[str, datetime | None] = {}
    for a in activities:
        if not isinstance(a, dict) or not isinstance(a.get("activity"), dict):
            continue
        key = a["activity"].get("serviceAccountKey")
        name = (key.get("fullResourceName") if isinstance(key, dict) else None) or a.get("fullResourceName")
        if isinstance(name, str) and "/keys/" in name:
            out[key_id(name)] = ts(a["activity"].get("lastAuthenticatedTime"))
    return out


def with_key_usage(cred: Credential, last_auth: dict[str, datetime | None]) -> Credential:
    """A key credential with what Activity Analyzer says of its use: the last
    authentication, or none seen (``last_used_at`` None and ``last_used_unknown`` False:
    the generic unused-credential rule then ages it from its creation)."""
    kid = cred.attributes.get("key_id")
    cred.last_used_at = last_auth.get(kid) if kid in last_auth else None
    cred.attributes["last_used_unknown"] = False
    cred.attributes["usage_from"] = "activity_analyzer"
    return cred


def key_creators(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """Audit entries of CreateServiceAccountKey -> key id -> who created it, when."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        p = e.get("protoPayload") if isinstance(e, dict) and isinstance(e.get("protoPayload"), dict) else None
        if not p or p.get("methodName") != CREATE_KEY:
            continue
        resp = p.get("response") if isinstance(p.get("response"), dict) else {}
        who = (p.get("authenticationInfo") or {}).get("principalEmail") if isinstance(
            p.get("authenticationInfo"), dict) else None
        if not resp.get("name") or not who:
            continue
        sa = re.search(r"/serviceAccounts/([^/]+)/keys/", str(resp["name"]))
        out[key_id(str(resp["name"]))] = {"principal": str(who).lower(), "at": e.get("timestamp"),
                                          "insert_id": e.get("insertId"),
                                          "service_account": sa.group(1).lower() if sa else None}
    return out


def member_parts(member: str) -> tuple[str, str | None, bool]:
    """``user:x@y`` -> (type, e-mail, deleted); ``deleted:user:x@y?uid=N`` -> (user, x@y, True)."""
    deleted = member.startswith("deleted:")
    rest = member[len("deleted:"):] if deleted else member
    mtype, _, value = rest.partition(":")
    email = value.split("?", 1)[0].lower() if "@" in value else None
    return mtype, email, deleted


def policy_resource_name(full: str) -> tuple[str, str]:
    """A Cloud Asset full resource name -> (policy resource name, kind)."""
    if full.startswith(CRM):
        name = full[len(CRM):]
        return name, {"projects": "project", "folders": "folder", "organizations": "organization"}.get(
            name.split("/", 1)[0], "resource")
    m = re.match(r"//iam\.googleapis\.com/(projects/[^/]+/serviceAccounts/[^/]+)$", full)
    if m:
        return m.group(1), "service_account"
    return full.lstrip("/"), "resource"


def transform_policy(policy: Any, source: str, resource: Resource, sa_by_key: dict[str, Account]) -> list[Grant]:
    """A Policy's bindings -> one Grant per (role, member). A ``serviceAccount:`` member we
    listed points at its Account; every other member stays a principal string."""
    if not isinstance(policy, dict):
        raise ValueError("policy is not an object")
    out = []
    for b in policy.get("bindings") or []:
        if not isinstance(b, dict) or not b.get("role"):
            continue
        for m in b.get("members") or []:
            if not isinstance(m, str):
                continue
            mtype, email, deleted = member_parts(m)
            sa = sa_by_key.get(email or "") if mtype == "serviceAccount" and not deleted else None
            out.append(Grant(system=SYSTEM, source=source, principal=sa.uid if sa else m,
                             resource=resource.uid, permission=str(b["role"]), via="binding",
                             attributes={"member": m, "member_type": mtype, "email": email,
                                         "deleted": deleted, "resource_name": resource.native_id,
                                         "resource_kind": resource.kind, "etag": policy.get("etag"),
                                         "condition": (b.get("condition") or {}).get("title")
                                         if isinstance(b.get("condition"), dict) else None}))
    return out


def sa_resource(acc: Account, source: str) -> Resource:
    """The service account as a resource with an IAM policy (``setIamPolicy`` target)."""
    return Resource(system=SYSTEM, source=source,
                    native_id=f"projects/{acc.attributes.get('project')}/serviceAccounts/{acc.native_id}",
                    kind="service_account", name=acc.native_id, attributes={"account": acc.uid})


def sa_uid(source: str, email: str) -> str:
    return make_uid(source, email.lower())

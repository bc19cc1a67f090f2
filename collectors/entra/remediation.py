"""What ``residual plan`` prints for each Entra finding: the call that removes it.

Commands use the Azure CLI (``az rest`` signs Graph calls with the operator's own
``az login``; ``az ad ... credential delete`` removes app secrets and certificates), so
the plan carries no token. Ids come from the records the collector stored, shell-quoted.
Each builder takes the finding and the plan's objects and returns
``(phase, action, command, note)`` (phases: scanner/plan.py).
"""

from __future__ import annotations

import json
from typing import Any

from collectors.remediation import q

GRAPH = "https://graph.microsoft.com/v1.0"


def rest(method: str, path: str, body: dict[str, Any] | None = None) -> str:
    cmd = f"az rest --method {method} --url {q(GRAPH + path)}"
    return cmd + (f" --body {q(json.dumps(body))}" if body is not None else "")


def _credential_parts(f: Any) -> tuple[str, str, str]:
    """(object id, secret|cert, key id) from a credential finding's subject."""
    native = f.subject.split("|", 1)[-1]
    obj, kind, key = (native.split(":") + ["", "", ""])[:3]
    return obj, kind, key


def revoke_sessions(f: Any, objs: Any) -> tuple[int, str, str, str]:
    user = f.evidence.get("user_id") or f.object_id
    return (2, "revoke the user's sign-in sessions and refresh tokens",
            rest("POST", f"/users/{user}/revokeSignInSessions"),
            "or: residual revoke-sessions (opt-in writer); tokens issued before now stop working")


def delete_grant(f: Any, objs: Any) -> tuple[int, str, str, str]:
    grant = f.evidence.get("grant_id") or f.object_id
    return (3, f"delete the OAuth consent to {f.evidence.get('client') or 'the app'}",
            rest("DELETE", f"/oauth2PermissionGrants/{grant}"), "")


def review_tenant_consent(f: Any, objs: Any) -> tuple[int, str, str, str]:
    sp = f.evidence.get("service_principal_id") or f.object_id
    flt = f"clientId eq '{sp}' and consentType eq 'AllPrincipals'"
    return (3, f"review the tenant-wide consent to {f.object_name}",
            f"{rest('GET', '/oauth2PermissionGrants?$filter=' + flt)}  # then for each grant id:\n"
            f"{rest('DELETE', '/oauth2PermissionGrants/GRANT_ID')}",
            "removes the app's access to every user's data: confirm with the app's business owner")


def delete_app_role(f: Any, objs: Any) -> tuple[int, str, str, str]:
    user = f.evidence.get("user_id")
    return (3, f"remove the assignment to {f.evidence.get('app')}",
            rest("DELETE", f"/users/{user}/appRoleAssignments/{f.object_id}"), "")


def remove_device(f: Any, objs: Any) -> tuple[int, str, str, str]:
    dev = f.object_id
    return (2, f"disable, then delete the device {f.object_name}",
            rest("PATCH", f"/devices/{dev}", {"accountEnabled": False}) + "\n" + rest("DELETE", f"/devices/{dev}"),
            "if Intune manages it, retire or wipe it there too")


def _collection(f: Any) -> str:
    return "servicePrincipals" if f.object_kind == "servicePrincipal" else "applications"


def replace_owner(f: Any, objs: Any) -> tuple[int, str, str, str]:
    coll, obj = _collection(f), f.object_id
    owner = f.evidence.get("owner_id")
    body = {"@odata.id": f"{GRAPH}/directoryObjects/NEW_OWNER_ID"}
    return (5, f"give {f.object_name} a current owner, then remove the leaver as owner",
            f"{rest('POST', f'/{coll}/{obj}/owners/$ref', body)}\n"
            f"{rest('DELETE', f'/{coll}/{obj}/owners/{owner}/$ref')}",
            "then rotate its secrets: the leaver could know or add them")


def add_owner(f: Any, objs: Any) -> tuple[int, str, str, str]:
    coll, obj = _collection(f), f.object_id
    body = {"@odata.id": f"{GRAPH}/directoryObjects/NEW_OWNER_ID"}
    return (5, f"assign an accountable owner to {f.object_name}",
            rest("POST", f"/{coll}/{obj}/owners/$ref", body), "or retire the app and remove its credentials")


def remove_credential(f: Any, objs: Any) -> tuple[int, str, str, str]:
    obj, kind, key = _credential_parts(f)
    cred = objs.credentials.get(f.subject) if objs is not None else None
    sp = bool(cred and cred.attributes.get("object_type") == "servicePrincipal")
    group = "sp" if sp else "app"
    cmd = f"az ad {group} credential delete --id {q(obj)} --key-id {q(key)}" + (" --cert" if kind == "cert" else "")
    return (2, f"remove the {'certificate' if kind == 'cert' else 'client secret'} {f.object_name}",
            cmd, "move its users to a new, shorter-lived credential first if the app is still in use")



def account_step(acc: Any, suspended: bool = False) -> tuple[str, str, str] | None:
    """For the generic account rules (an Entra user still enabled after termination)."""
    if acc.kind != "user":
        return None
    return ("disable the user and revoke their sessions",
            rest("PATCH", f"/users/{acc.native_id}", {"accountEnabled": False}) + "\n"
            + rest("POST", f"/users/{acc.native_id}/revokeSignInSessions"),
            "delete the user once HR's retention allows")


RULE_STEPS = {
    "entra.sessions_not_revoked": revoke_sessions,
    "entra.sign_in_after_termination": revoke_sessions,
    "entra.oauth_grant_of_leaver": delete_grant,
    "entra.tenant_consent_by_leaver": review_tenant_consent,
    "entra.app_role_assignment_of_leaver": delete_app_role,
    "entra.device_of_leaver": remove_device,
    "entra.app_owner_departed": replace_owner,
    "entra.app_without_owner": add_owner,
    "entra.secret_lifetime": remove_credential,
    "entra.secret_added_by_leaver": remove_credential,
}

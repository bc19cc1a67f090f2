"""What ``residual plan`` prints for Google Cloud findings: gcloud commands, ids
shell-quoted. Keys are disabled before they are deleted (a disabled key can be enabled
again if something breaks); bindings are removed with ``remove-iam-policy-binding``,
which is getIamPolicy, edit and setIamPolicy with the policy's etag.

Builders take (finding, objects) and return (phase, action, command, note).
"""

from __future__ import annotations

from typing import Any

from collectors.remediation import cm, q



def credential_step(c: Any, acc: Any) -> tuple[str, str, str] | None:
    if c.kind != "access_key":
        return None
    a = c.attributes
    sa, project, kid = a.get("service_account"), a.get("project"), a.get("key_id") or c.name
    flags = f"--iam-account {q(sa)} --project {q(project)}"
    return ("disable the service-account key, then delete it (keys.disable, keys.delete)",
            f"gcloud iam service-accounts keys disable {q(kid)} {flags}\n"
            f"gcloud iam service-accounts keys delete {q(kid)} {flags} --quiet",
            "between the two, watch for failures: a disabled key can be enabled again")


def account_step(acc: Any, suspended: bool = False) -> tuple[str, str, str]:
    project = acc.attributes.get("project")
    return ("disable the service account (after moving its workloads)",
            f"gcloud iam service-accounts disable {q(acc.native_id)} --project {q(project)}", "")


def remove_binding(resource: str, member: str, role: str) -> str:
    """The gcloud command that drops ``member`` from ``role`` on a policy resource name."""
    kind, _, rest = resource.partition("/")
    flags = f"--member={q(member)} --role={q(role)}"
    if kind == "organizations":
        return f"gcloud organizations remove-iam-policy-binding {q(rest)} {flags}"
    if kind == "folders":
        return f"gcloud resource-manager folders remove-iam-policy-binding {q(rest)} {flags}"
    if "/serviceAccounts/" in resource:
        project, _, sa = rest.partition("/serviceAccounts/")
        return f"gcloud iam service-accounts remove-iam-policy-binding {q(sa)} --project {q(project)} {flags}"
    return f"gcloud projects remove-iam-policy-binding {q(rest)} {flags}"


def owner_step(acc: Any, f: Any = None) -> tuple[str, str, str]:
    """The owner lives in the service account's description (``owner: <e-mail>``)."""
    return ("record the service account's new owner in its description",
            f"gcloud iam service-accounts update {q(acc.native_id)} --project {q(acc.attributes.get('project'))} "
            "--description 'owner: NEW_OWNER@example.com'", "")


def _binding(f: Any, objs: Any) -> tuple[int, str, str, str]:
    e = f.evidence
    cmd = remove_binding(str(e.get("resource")), str(e.get("member")), str(e.get("role")))
    if str(e.get("member", "")).startswith("serviceAccount:"):
        # the service account is still in use: its new owner decides, removing it can break prod
        return (5, "review the binding of a service account the leaver owned (new owner first)",
                f"# if nothing needs it any more:\n# {cmd}", "reassigning the owner is the fix; the binding may be in use")
    return (3, "remove the member from the IAM binding (setIamPolicy)", cmd,
            "if the binding has a condition, add --condition=... (or --all) as gcloud asks")


def _key(f: Any, objs: Any) -> tuple[int, str, str, str]:
    c = objs.credentials.get(f.subject)
    got = credential_step(c, None) if c is not None else None
    if got is None:
        return (2, "disable, then delete the key", f"# disable then delete {cm(f.object_id)} (not in this scan)", "")
    return (2, *got)


RULE_STEPS = {
    "gcp.binding_names_leaver": _binding,
    "gcp.binding_names_deleted_principal": _binding,
    "gcp.key_of_sa_owner_left": _key,
    "gcp.key_created_by_leaver": _key,
}

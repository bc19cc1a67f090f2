"""Kubernetes: the steps ``residual plan`` prints to revoke what this source found,
with kubectl. residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

import re

from collectors.remediation import Builder, Objects, arn_name, cm, q
from scanner.core.model import Account, Credential, Finding


def credential_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """The step that revokes credential ``c`` at its issuer."""
    a = c.attributes
    if c.kind == "sa_token":
        ns, _, name = c.name.partition("/")
        return ("delete the service-account token Secret",
                f"kubectl -n {q(a.get('namespace') or ns)} delete secret {q(name or c.name)}",
                "a token Secret recreated by a controller comes back: check its owner first")
    if c.kind == "client_cert":
        until = c.expires_at.date().isoformat() if c.expires_at else "its expiry"
        groups = ",".join(a.get("groups") or [])
        return ("client certificates cannot be revoked",
                f"# Kubernetes has no revocation for client certificates: it stays valid until {until}.\n"
                f"# Remove every RoleBinding/ClusterRoleBinding naming User {cm(a.get('cn') or c.name)}"
                + (f" or its groups ({cm(groups)})" if groups else "")
                + ", or rotate the cluster CA (every client certificate is then reissued).\n"
                f"kubectl get rolebindings,clusterrolebindings -A -o wide | grep -e {q(a.get('cn') or c.name)}"
                + "".join(f" -e {q(g)}" for g in a.get("groups") or []),
                "the certificate's groups are granted by bindings other people use too: remove the user, not the group, where possible")
    return None


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    kind, _, name = acc.native_id.partition(":")
    if kind == "ServiceAccount":
        ns, _, sa = name.partition("/")
        return ("delete the service account (after moving its workloads)",
                f"kubectl -n {q(ns)} delete serviceaccount {q(sa)}", "")
    return ("Kubernetes has no user objects: remove the bindings that name them",
            f"kubectl get rolebindings,clusterrolebindings -A -o json | jq -r --arg kind {q(kind)} --arg name {q(name)} "
            "'.items[] | select(.subjects[]? | .kind == $kind and .name == $name) "
            "| .metadata.namespace + \" \" + .metadata.name'", "")


def _binding(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    binding = str(f.evidence.get("binding") or f.object_id)
    kind, _, ref = binding.partition(" ")
    ns, _, name = ref.rpartition("/")
    subject = str(f.evidence.get("subject") or "")
    skind, _, sname = subject.partition(":")
    res_kind = "clusterrolebinding" if kind == "ClusterRoleBinding" else "rolebinding"
    nsflag = f"-n {q(ns)} " if ns and res_kind == "rolebinding" else ""
    if f.evidence.get("membership", "").startswith("mapping") or skind == "Group":
        note = (f"the leaver is in it through {f.evidence.get('membership') or subject}: remove that membership "
                "(the mapping step) rather than the group, which others use")
        cmd = f"# kubectl {cm(nsflag)}edit {res_kind} {cm(q(name))}  # only if {cm(sname)} is the leaver's alone"
        return (3, "remove the leaver's way into the bound group", cmd, note)
    who = f"{skind} {sname}" if sname else "the leaver's subject"
    return (3, "remove the subject from the binding",
            f"kubectl {nsflag}edit {res_kind} {q(name)}  # delete the subjects[] entry for {cm(who)}",
            f"if it is the only subject, delete the binding instead: kubectl {nsflag}delete {res_kind} {q(name)}")


def _mapping(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    where = f.evidence.get("where") or ""
    principal = f.evidence.get("principal") or f.object_id
    if where == "EKS access entry":
        cluster = f.evidence.get("cluster") or "CLUSTER"
        return (3, "delete the EKS access entry",
                f"aws eks delete-access-entry --cluster-name {q(arn_name(str(cluster)))} --principal-arn {q(principal)}", "")
    ns, _, name = (where or "kube-system/aws-auth").partition("/")
    return (3, "remove the IAM mapping from the aws-auth ConfigMap",
            f"kubectl -n {q(ns)} edit configmap {q(name)}  # delete the mapUsers/mapRoles entry for {cm(principal)}",
            "or: eksctl delete iamidentitymapping --cluster CLUSTER --arn " + q(principal))


def _k8s_secret_live(f: Finding, objs: Objects) -> list[tuple[int, str, str, str]]:
    """Workloads read this Secret: give them a credential not tied to the leaver first
    (phase 1), then revoke the old one (phase 2), so nothing breaks in between."""
    loc = f.location_path or f.evidence.get("location") or ""
    # "secrets/<ns>/<name>#KEY" or "configmaps/<ns>/<name>#KEY"
    m = re.match(r"^(secrets|configmaps)/([^/]+)/([^#]+)(?:#(.*))?$", loc)
    if m:
        kind = "secret" if m.group(1) == "secrets" else "configmap"
        edit = f"kubectl -n {q(m.group(2))} edit {kind} {q(m.group(3))}  # put a new credential in {cm(m.group(4) or 'the value')}"
    else:
        edit = f"# put a new credential at {cm(loc)}"
    return [(1, "replace the credential in the Secret with one not tied to the leaver", edit,
             "workloads that read it must restart to pick up the new value"), objs.revoke(f, objs)]


def owner_step(acc: Account, f: Finding) -> tuple[str, str, str] | None:
    """A service account's owner is its ``owner`` annotation; users have no object."""
    if not acc.native_id.startswith("ServiceAccount:"):
        return None
    ns, _, sa = acc.native_id.split(":", 1)[1].partition("/")
    return ("annotate the service account with its new owner",
            f"kubectl -n {q(ns)} annotate serviceaccount {q(sa)} owner=NEW_OWNER --overwrite", "")


# rule id -> the step(s) for its findings (scanner/plan.py reads these)
RULE_STEPS: dict[str, Builder] = {
    "kubernetes.binding_names_leaver": _binding,
    "kubernetes.mapping_names_leaver": _mapping,
    "kubernetes.secret_holds_live_credential": _k8s_secret_live,
}

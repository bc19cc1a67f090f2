"""Revocation plan: each finding of an identity turned into the exact step that removes
it, in an order that does not break dependants, ending with a re-verify.

residual stays read-only: the plan is text for a person or an automation to run.

Order (phases), and why:
1. rotate shared secrets the leaver could read: while their old value still works for
   the services that use it, a new value can be rolled out; revoking the person first
   does not stop them from using a copied shared secret;
2. revoke credentials (keys, tokens, SSH/deploy keys, certificates): these work even when
   the account is later disabled on several systems;
3. remove grants (trust policies, bindings, mappings, app assignments, memberships);
4. disable or delete accounts;
5. reassign NHIs the leaver owned;
6. clean leftover references in code (so the next apply does not recreate access);
7. re-verify.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from scanner.inventory import Inventory
from scanner.model import Account, Credential, Finding, Resource, severity_rank

PHASES = {1: "rotate shared secrets", 2: "revoke credentials", 3: "remove grants",
          4: "disable accounts", 5: "reassign owned NHIs", 6: "clean references in code",
          7: "re-verify"}


@dataclass
class Step:
    phase: int
    system: str
    action: str
    command: str  # a shell command (aws, kubectl, gh api, curl) or a manual instruction
    finding: str  # finding fingerprint ("" for the re-verify step)
    rule: str
    severity: str
    note: str = ""


def q(s: Any) -> str:
    return shlex.quote(str(s))


def _name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def step_for(f: Finding, cred: Credential | None, acc: Account | None,
             res: Resource | None) -> Step:
    """The revocation step for one finding. Unknown combinations get an honest manual
    step naming the object, never a guessed command."""
    s = f.system.split(":", 1)[0]
    kind = f.object_kind
    login = acc.login if acc else ""
    attrs = cred.attributes if cred else {}
    mk = lambda phase, action, command, note="": Step(  # noqa: E731
        phase, f.system, action, command, f.fingerprint, f.rule, f.severity, note)

    if f.rule.startswith("exposure.") or kind in ("exposure", "secret") and f.layer in ("iac", "kubernetes"):
        where = f"{f.location_path}:{f.location_line}" if f.location_path else f.object_id
        return mk(1, "rotate the exposed secret at its issuer, then remove it from the file and history",
                  f"# rotate the credential behind {f.evidence.get('hint') or f.object_name}; "
                  f"then delete it from {where} and purge history (git filter-repo)")
    if kind in ("ci_secret", "ci_variable") or "rotate" in f.rule or f.rule.endswith("shared_secret_not_rotated"):
        parent = (res.attributes.get("parent", "") if res else "").split("|")[-1]
        if s == "github":
            return mk(1, "rotate the shared Actions secret", f"gh secret set {q(f.object_name)} "
                      + (f"--repo {q(parent)}" if "/" in parent else f"--org {q(parent or 'ORG')}"),
                      "rotate the value at its issuer first")
        if s == "gitlab":
            return mk(1, "rotate the shared CI/CD variable",
                      f"glab variable update {q(f.object_name)} --value NEW_VALUE",
                      "rotate the value at its issuer first")
    if s == "aws":
        user = login or (_name_from_arn(acc.native_id) if acc else "")
        if kind == "access_key":
            key_id = attrs.get("access_key_id") or (cred.name if cred else f.object_name)
            return mk(2, "deactivate, then delete the access key",
                      f"aws iam update-access-key --user-name {q(user)} --access-key-id {q(key_id)} --status Inactive && "
                      f"aws iam delete-access-key --user-name {q(user)} --access-key-id {q(key_id)}")
        if kind == "password":
            return mk(2, "delete the console password", f"aws iam delete-login-profile --user-name {q(user)}")
        if kind == "ssh_key":
            return mk(2, "delete the SSH public key", f"aws iam delete-ssh-public-key --user-name {q(user)} "
                      f"--ssh-public-key-id {q(attrs.get('ssh_public_key_id') or f.object_name)}")
        if kind == "signing_cert":
            return mk(2, "delete the signing certificate", f"aws iam delete-signing-certificate --user-name {q(user)} "
                      f"--certificate-id {q(f.object_name)}")
        if kind == "service_credential":
            return mk(2, "delete the service-specific credential",
                      f"aws iam delete-service-specific-credential --user-name {q(user)} "
                      f"--service-specific-credential-id {q(f.object_name)}")
        if kind == "role" or f.rule == "grant.trust_names_leaver":
            return mk(3, "remove the principal from the role's trust policy",
                      f"aws iam get-role --role-name {q(f.object_name)} --query Role.AssumeRolePolicyDocument > trust.json"
                      f" && $EDITOR trust.json  # drop {f.evidence.get('principal', 'the principal')}\n"
                      f"aws iam update-assume-role-policy --role-name {q(f.object_name)} --policy-document file://trust.json")
        if kind == "cluster" or f.evidence.get("mapping") == "access_entry":
            return mk(3, "delete the EKS access entry", f"aws eks delete-access-entry --cluster-name "
                      f"{q(f.object_name)} --principal-arn {q(f.evidence.get('principal', ''))}")
        if kind == "secret_store":
            return mk(1, "rotate the secret and reassign its owner tag",
                      f"aws secretsmanager rotate-secret --secret-id {q(f.object_id)}")
        if kind in ("user", "service_account", "bot") and f.rule.startswith("nhi."):
            return mk(5, "assign a new owner", f"aws iam tag-user --user-name {q(user)} --tags Key=owner,Value=NEW_OWNER")
        if kind == "user":
            return mk(4, "delete the IAM user (after its keys, groups and policies)",
                      f"aws iam delete-user --user-name {q(user)}",
                      "detach policies and remove group memberships first")
    if s == "github":
        org = (f.evidence.get("org") or (acc.source.split(":", 1)[1] if acc else "ORG"))
        if kind == "deploy_key":
            return mk(2, "delete the deploy key", f"gh api -X DELETE /repos/{attrs.get('repo', 'OWNER/REPO')}/keys/{f.object_id.rsplit('/', 1)[-1]}")
        if kind in ("pat", "oauth_grant") or f.evidence.get("credential_id"):
            return mk(2, "revoke the credential authorization",
                      f"gh api -X DELETE /orgs/{org}/credential-authorizations/{attrs.get('credential_id', f.object_id)}")
        if kind == "ssh_key":
            return mk(2, "the SSH key belongs to the user's account: remove the user from the org (phase 4) "
                      "and revoke SAML SSO authorization", f"gh api -X DELETE /orgs/{org}/credential-authorizations/{attrs.get('credential_id', f.object_id)}")
        if f.rule.endswith("pending_invitation") or (acc and acc.status == "pending"):
            return mk(3, "cancel the invitation", f"gh api -X DELETE /orgs/{org}/invitations/{acc.attributes.get('invitation_id', 'ID') if acc else 'ID'}")
        if acc and acc.attributes.get("outside_collaborator"):
            return mk(4, "remove the outside collaborator", f"gh api -X DELETE /orgs/{org}/outside_collaborators/{login}")
        if kind in ("user", "bot"):
            return mk(4, "remove the member from the org", f"gh api -X DELETE /orgs/{org}/members/{login}")
    if s == "gitlab":
        if kind in ("pat", "deploy_token", "api_key"):
            return mk(2, "revoke the token", f"curl -X DELETE -H 'PRIVATE-TOKEN: $GITLAB_TOKEN' "
                      f"$GITLAB_URL/api/v4/personal_access_tokens/{f.object_id.rsplit('/', 1)[-1]}")
        if kind == "ssh_key":
            return mk(2, "delete the SSH key", f"curl -X DELETE -H 'PRIVATE-TOKEN: $GITLAB_TOKEN' "
                      f"$GITLAB_URL/api/v4/users/{acc.native_id if acc else 'USER_ID'}/keys/{f.object_id.rsplit('/', 1)[-1]}")
        if kind == "pipeline_schedule" or "schedule" in f.rule:
            return mk(3, "take ownership of the pipeline schedule (it runs as its owner)",
                      f"curl -X POST -H 'PRIVATE-TOKEN: $GITLAB_TOKEN' $GITLAB_URL/api/v4/projects/PROJECT_ID/"
                      f"pipeline_schedules/{f.object_id.rsplit('/', 1)[-1]}/take_ownership")
        if kind in ("user", "bot"):
            return mk(4, "block the user", f"curl -X POST -H 'PRIVATE-TOKEN: $GITLAB_TOKEN' "
                      f"$GITLAB_URL/api/v4/users/{acc.attributes.get('id', login) if acc else login}/block")
    if s == "kubernetes":
        if kind == "client_cert":
            return mk(2, "client certificates cannot be revoked",
                      "# rotate the cluster CA, or remove every RBAC binding naming the certificate's "
                      f"user/groups; it stays valid until {f.evidence.get('expires_at', 'it expires')}")
        if kind == "sa_token":
            ns, _, name = f.object_name.partition("/")
            return mk(2, "delete the legacy service-account token secret",
                      f"kubectl -n {q(ns or 'NAMESPACE')} delete secret {q(name or f.object_name)}")
        if "binding" in f.rule or kind in ("rolebinding", "clusterrolebinding", "binding"):
            ns = f.evidence.get("namespace")
            return mk(3, "remove the subject from the binding",
                      f"kubectl {'-n ' + q(ns) + ' ' if ns else ''}edit "
                      f"{'rolebinding' if ns else 'clusterrolebinding'} {q(f.evidence.get('binding', f.object_name))}")
        if "aws_auth" in f.rule or "mapping" in f.rule:
            return mk(3, "remove the IAM mapping", "kubectl -n kube-system edit configmap aws-auth  "
                      f"# drop {f.evidence.get('principal', '')}")
    if s == "okta":
        if kind == "api_key":
            return mk(2, "revoke the API token", f"curl -X DELETE -H 'Authorization: SSWS $OKTA_TOKEN' "
                      f"https://$OKTA_DOMAIN/api/v1/api-tokens/{f.object_id}")
        if "assign" in f.rule:
            return mk(3, "unassign the user from the app", f"curl -X DELETE -H 'Authorization: SSWS $OKTA_TOKEN' "
                      f"https://$OKTA_DOMAIN/api/v1/apps/{f.evidence.get('app_id', 'APP_ID')}/users/{f.evidence.get('user_id', 'USER_ID')}")
        return mk(4, "deactivate the Okta user", f"curl -X POST -H 'Authorization: SSWS $OKTA_TOKEN' "
                  f"https://$OKTA_DOMAIN/api/v1/users/{f.object_id}/lifecycle/deactivate")
    if s == "scim":
        return mk(4, "deactivate the SaaS account over SCIM",
                  f"curl -X PATCH -H 'Authorization: Bearer $SCIM_TOKEN' -H 'Content-Type: application/scim+json' "
                  f"$SCIM_URL/Users/{f.object_id} -d '{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                  f"\"Operations\":[{{\"op\":\"replace\",\"value\":{{\"active\":false}}}}]}}'")
    if s == "iac" or f.layer == "iac":
        return mk(6, "remove the reference from code (or the next apply recreates the access)",
                  f"# edit {f.location_path}:{f.location_line}: {f.object_name or f.object_id}")
    if f.rule.startswith("nhi."):
        return mk(5, "assign a new owner to the NHI", f"# record a new owner for {f.object_name or f.object_id} ({f.system})")
    return mk(4 if kind in ("user", "account") else 3, f"remove {kind or 'access'} in {f.system}",
              f"# manual: {f.title}: {f.object_name or f.object_id}")


def build_plan(inv: Inventory, scan_id: str, identity: str) -> list[Step]:
    findings = [f for f in inv.load(Finding, scan_id, "identity = ?", [identity])
                if f.status != "waived" and severity_rank(f.severity) >= severity_rank("low")]
    subjects = {f.subject for f in findings}
    creds = {c.node: c for c in inv.load(Credential, scan_id) if c.node in subjects}
    holders = {c.holder for c in creds.values() if c.holder}
    accounts = {a.uid: a for a in inv.load(Account, scan_id)
                if a.uid in holders or a.node in subjects}
    resources = {r.node: r for r in inv.load(Resource, scan_id) if r.node in subjects}
    steps = []
    for f in findings:
        cred = creds.get(f.subject)
        acc = accounts.get(cred.holder) if cred and cred.holder else \
            next((a for a in accounts.values() if a.node == f.subject), None)
        steps.append(step_for(f, cred, acc, resources.get(f.subject)))
    steps.sort(key=lambda s: (s.phase, -severity_rank(s.severity), s.system, s.command))
    steps.append(Step(7, "residual", "re-verify", f"residual verify {q(identity)}", "", "", "info",
                      "exit 0 means every configured layer is clean"))
    return steps


def render_plan(steps: list[Step], identity: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"identity": identity, "steps": [asdict(s) for s in steps]}, indent=2)
    if fmt == "sh":
        lines = ["#!/bin/sh", f"# Revocation plan for {identity}, generated by residual (read-only).",
                 "# Review every step before running it. Order matters: see the phases.", "set -eu"]
        phase = None
        for s in steps:
            if s.phase != phase:
                phase = s.phase
                lines += ["", f"# --- phase {s.phase}: {PHASES[s.phase]}"]
            lines.append(f"# [{s.severity}] {s.action} ({s.rule or 'check'} {s.finding[:12]})")
            if s.note:
                lines.append(f"# note: {s.note}")
            lines.append(s.command)
        return "\n".join(lines) + "\n"
    lines = [f"# Revocation plan for {identity}", "",
             "residual is read-only: these are the steps for a person or an automation to run.", ""]
    phase = None
    n = 0
    for s in steps:
        if s.phase != phase:
            phase = s.phase
            lines += [f"## Phase {s.phase}: {PHASES[s.phase]}", ""]
        n += 1
        lines.append(f"{n}. **{s.action}** ({s.system}, {s.severity}{', ' + s.rule if s.rule else ''})")
        lines.append(f"   ```\n   {s.command}\n   ```")
        if s.note:
            lines.append(f"   _{s.note}_")
    return "\n".join(lines) + "\n"

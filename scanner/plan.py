"""Revocation plan: each finding of an identity turned into the exact step that removes
it, in an order that does not break dependants, ending with a re-verify.

residual stays read-only: the plan is text for a person or an automation to run.

Order (phases), and why:
1. rotate shared secrets the leaver could read (CI secrets, Secrets Manager, a live key
   sitting in a Kubernetes Secret or a file): while their old value still works for the
   services that use it, a new value can be rolled out; revoking the person first does
   not stop them from using a copied shared secret, and revoking a key that services
   still use breaks them;
2. revoke credentials (keys, tokens, SSH/deploy keys, factors, certificates): these work
   even when the account is later disabled on several systems;
3. remove grants (trust policies, bindings, mappings, app assignments, memberships,
   invitations, schedules that run as them);
4. disable or delete accounts;
5. reassign NHIs the leaver owned;
6. clean leftover references in code (so the next apply does not recreate access);
7. re-verify.

Every rule in the catalog maps to a step through ``STEP_BUILDERS`` (by rule id; a source's
own rules bring theirs) and, for the generic credential and account rules, by the object's
system: the source that declares it gives the step (``collectors/<source>/remediation.py``,
contract in collectors/remediation.py); ids come from
the records the collectors stored (a GitLab user's numeric id, an AWS key id, a GitHub
credential authorization id), never guessed. Where no API can remove the access (a
Kubernetes client certificate), the step says so and names what does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from collectors.registry import remediation_modules
from collectors.remediation import Builder, Objects, after_pipe, cred_of, q
from scanner.core.model import Account, Credential, Finding, Identity, Resource, severity_rank
from scanner.core.store import Inventory
from scanner.core.terminal import printable

PHASES = {1: "rotate shared secrets", 2: "revoke credentials", 3: "remove grants",
          4: "disable accounts", 5: "reassign owned NHIs", 6: "clean references in code",
          7: "re-verify"}

<<<<<<< HEAD
AWS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
GL = "curl -sS -g -H \"PRIVATE-TOKEN: $GITLAB_TOKEN\""  # GitLab REST, $GITLAB_URL = instance URL
OKTA = "curl -sS -g -H \"Authorization: SSWS $OKTA_TOKEN\""  # $OKTA_URL = https://<org>.okta.com

=======
>>>>>>> a863f9f (squash t14)

@dataclass
class Step:
    phase: int
    system: str
    action: str
    command: str  # a shell command (aws, kubectl, gh api, curl) or an exact instruction (#)
    finding: str  # finding fingerprint ("" for the re-verify step)
    rule: str
    severity: str
    note: str = ""


# --- per system: asked of the source's remediation module ----------------------------------


<<<<<<< HEAD
# Every estate value reaches a plan through one of the helpers below: the plan is run
# with an admin's credentials, and the values come from payloads, files and repositories
# that whoever residual scans controls (a deploy key's title, a SCIM id, a file path with
# a newline). tests/test_attack_surface_plan.py renders hostile values and runs the plan.


def cm(s: Any) -> str:
    """Text for a comment line: no control character (a newline would end the comment
    and start a command; an escape sequence or a carriage return would rewrite what the
    reviewer sees)."""
    return printable(s)


def q(s: Any) -> str:
    """One shell word. A control character becomes ``?`` here too: quoting would make it
    inert for the shell, not for the terminal of whoever reviews the plan; a step whose
    value was changed names no real object and fails instead."""
    return shlex.quote(cm(s))


def enc(part: Any) -> str:
    """One URL path segment, percent-encoded (a GitLab path as the API takes it in place
    of a numeric id: ``acme%2Fplatform``). Only ``[A-Za-z0-9_.~%-]`` remain, so it is
    inert inside double quotes; a segment of dots is encoded too (no ``..`` traversal)."""
    out = quote(str(part), safe="")
    return out.replace(".", "%2E") if set(out) <= {"."} else out


def gl(method: str, *parts: Any, query: str = "") -> str:
    """A GitLab REST call on ``$GITLAB_URL/api/v4/<parts>`` (each part one segment)."""
    return f"{GL} -X {method} \"$GITLAB_URL/api/v4/{'/'.join(enc(p) for p in parts)}{query}\""


def okta(method: str, *parts: Any) -> str:
    """An Okta REST call on ``$OKTA_URL/api/v1/<parts>`` (each part one segment)."""
    return f"{OKTA} -X {method} \"$OKTA_URL/api/v1/{'/'.join(enc(p) for p in parts)}\""


def ghp(*parts: Any) -> str:
    """A GitHub REST path for ``gh api``: one shell word of encoded segments."""
    return q("/" + "/".join(enc(p) for p in parts))


def _tail(native_id: str, sep: str = ":") -> str:
    return native_id.rsplit(sep, 1)[-1]


def _after_pipe(uid: str | None) -> str:
    return (uid or "").split("|", 1)[-1]


def _arn_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# --- per system: the step that revokes one credential --------------------------------------


def _source_steps(system: str) -> Any:
    """The remediation module a source package declares for ``system``, or None."""
    base = system.split(":", 1)[0]
    return next((m for m in remediations() if base in getattr(m, "SYSTEMS", ())), None)


def credential_step(c: Credential, acc: Account | None, objs: Objects) -> tuple[str, str, str]:
    """(action, command, note) that revokes credential ``c`` at its issuer."""
    s = c.system.split(":", 1)[0]
    a = c.attributes
    mod = _source_steps(c.system)
    step = mod.credential_step(c, acc) if mod and hasattr(mod, "credential_step") else None
    if step:
        return step
    if s == "aws":
        user = (acc.login if acc else "") or a.get("user_name") or _arn_name(c.native_id.split("#")[0])
        if c.kind == "access_key":
            kid = a.get("access_key_id") or (c.name if AWS_KEY_ID.match(c.name or "") else None)
            if kid:
                return ("deactivate, then delete the access key",
                        f"aws iam update-access-key --user-name {q(user)} --access-key-id {q(kid)} --status Inactive\n"
                        f"aws iam delete-access-key --user-name {q(user)} --access-key-id {q(kid)}",
                        "deactivating first lets you re-enable it if something breaks")
            # the credential report names keys by slot, not id: find this one by its creation time
            created = c.created_at or c.rotated_at
            find = (f"kid=$(aws iam list-access-keys --user-name {q(user)} --query "
                    f"\"AccessKeyMetadata[?starts_with(CreateDate, '{created:%Y-%m-%dT%H:%M}')].AccessKeyId\" --output text)"
                    if created else
                    f"aws iam list-access-keys --user-name {q(user)}  # then: kid=<the id of access key {cm(a.get('slot', ''))}>")
            return ("deactivate, then delete the access key (found by its creation time: the report has no key id)",
                    f"{find}\naws iam update-access-key --user-name {q(user)} --access-key-id \"$kid\" --status Inactive\n"
                    f"aws iam delete-access-key --user-name {q(user)} --access-key-id \"$kid\"",
                    "deactivating first lets you re-enable it if something breaks")
        if c.kind == "password":
            return ("delete the console password", f"aws iam delete-login-profile --user-name {q(user)}", "")
        if c.kind == "ssh_key":
            kid = a.get("ssh_public_key_id") or _tail(c.native_id, "/")
            return ("delete the CodeCommit SSH key",
                    f"aws iam delete-ssh-public-key --user-name {q(user)} --ssh-public-key-id {q(kid)}", "")
        if c.kind == "signing_cert":
            cid = a.get("certificate_id") or c.name
            return ("delete the signing certificate",
                    f"aws iam delete-signing-certificate --user-name {q(user)} --certificate-id {q(cid)}", "")
        if c.kind == "service_credential":
            return ("delete the service-specific credential",
                    f"aws iam delete-service-specific-credential --user-name {q(user)} "
                    f"--service-specific-credential-id {q(c.native_id)}", "")
        if c.kind == "mfa_device":
            return ("deactivate and delete the MFA device",
                    f"aws iam deactivate-mfa-device --user-name {q(user)} --serial-number {q(c.native_id)}\n"
                    f"aws iam delete-virtual-mfa-device --serial-number {q(c.native_id)}", "")
    if s == "github":
        org = c.source.split(":", 1)[1]
        if c.kind == "deploy_key":
            keys = ghp("repos", *str(a.get("repo") or "OWNER/REPO").split("/", 1), "keys")
            return ("delete the deploy key",
                    f"gh api {keys} | jq -r --arg title {q(c.name)} '.[] | select(.title == $title) | .id' "
                    f"| xargs -I{{}} gh api -X DELETE {keys}/{{}}",
                    f"the key is found by its title {c.name!r}; its fingerprint is {c.fingerprint or 'unknown'}")
        if c.native_id.startswith("credential-authorization:"):
            return ("revoke the SAML SSO credential authorization (the token or key stops reaching the org)",
                    f"gh api -X DELETE {ghp('orgs', org, 'credential-authorizations', _tail(c.native_id))}",
                    "the credential itself belongs to the user's GitHub account; removing them from the org ends its use here")
        if c.native_id.startswith("fine-grained-pat:"):
            return ("revoke the fine-grained PAT's access to the org",
                    f"gh api -X POST {ghp('orgs', org, 'personal-access-tokens', a.get('grant_id') or _tail(c.native_id))} -f action=revoke",
                    "needs a GitHub App token with organization personal access tokens: write")
        if c.kind == "ssh_key":
            login = acc.login if acc else c.native_id.split("/", 1)[0]
            return ("a user's SSH key belongs to their GitHub account: remove them from the org",
                    f"gh api -X DELETE {ghp('orgs', org, 'memberships', login)}", "")
    if s == "gitlab":
        tid = _tail(c.native_id)
        parent = _after_pipe(a.get("parent"))
        kind, _, path = parent.partition(":")
        api = "projects" if kind == "project" else "groups"
        if c.kind == "pat":
            ttype = a.get("token_type") or "personal_access_token"
            if ttype == "impersonation_token" or a.get("impersonation"):
                uid = a.get("user_id") or (acc.attributes.get("user_id") if acc else "USER_ID")
                return ("revoke the impersonation token",
                        gl("DELETE", "users", uid, "impersonation_tokens", tid), "")
            if ttype in ("project_access_token", "group_access_token") and path:
                return (f"revoke the {ttype.replace('_', ' ')}",
                        gl("DELETE", api, path, "access_tokens", tid), "")
            return ("revoke the personal access token",
                    gl("DELETE", "personal_access_tokens", tid), "")
        if c.kind == "deploy_token":
            return ("revoke the deploy token",
                    gl("DELETE", api, path or "PATH", "deploy_tokens", tid), "")
        if c.kind == "deploy_key":
            repo = a.get("repo") or path or "PROJECT"
            return ("delete the deploy key",
                    gl("DELETE", "projects", repo, "deploy_keys", a.get("key_id") or tid), "")
        if c.kind == "ssh_key":
            uid = acc.attributes.get("user_id") if acc else None
            return ("delete the user's SSH key",
                    gl("DELETE", "users", uid or "USER_ID", "keys", tid), "")
    if s == "kubernetes":
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
    if s == "okta":
        if c.kind == "api_key":
            return ("revoke the API token", okta("DELETE", "api-tokens", c.native_id), "")
        if c.kind == "mfa_device":
            uid = _after_pipe(c.holder)
            return ("reset the enrolled factor",
                    okta("DELETE", "users", uid, "factors", _tail(c.native_id)), "")
    return (f"revoke the {c.kind.replace('_', ' ')}",
            f"# revoke {cm(c.kind)} {cm(c.name or c.native_id)} in {cm(c.source)} (no revocation API is known for it)", "")


# --- per system: the step that disables one account ------------------------------------------


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str]:
    s = acc.system.split(":", 1)[0]
    a = acc.attributes
    mod = _source_steps(acc.system)
    step = mod.account_step(acc) if mod and hasattr(mod, "account_step") else None
    if step:
        return step
    if s == "aws":
        if acc.kind == "role":
            return ("delete the role (or retag its owner)",
                    f"aws iam delete-role --role-name {q(acc.login)}",
                    "detach its policies and remove it from instance profiles first")
        if a.get("identity_center"):
            store = a.get("identity_store", "STORE_ID")
            return ("delete the Identity Center user",
                    f"aws identitystore delete-user --identity-store-id {q(store)} --user-id {q(_arn_name(acc.native_id))}", "")
        return ("delete the IAM user (after its keys, password, groups and policies)",
                f"aws iam delete-user --user-name {q(acc.login)}",
                "aws iam delete-user fails while keys, a login profile, groups or policies remain: phases 2-3 remove them")
    if s == "github":
        org = acc.source.split(":", 1)[1]
        if a.get("invitation") or acc.status == "pending":
            return ("cancel the invitation", f"gh api -X DELETE {ghp('orgs', org, 'invitations', a.get('invitation_id', _tail(acc.native_id)))}", "")
        if a.get("outside_collaborator"):
            return ("remove the outside collaborator", f"gh api -X DELETE {ghp('orgs', org, 'outside_collaborators', acc.login)}", "")
        return ("remove the member from the org (and their team memberships with it)",
                f"gh api -X DELETE {ghp('orgs', org, 'memberships', acc.login)}", "")
    if s == "gitlab":
        if acc.status == "pending":
            place = _after_pipe(a.get("invited_to"))
            kind, _, path = place.partition(":")
            return ("delete the invitation",
                    gl("DELETE", "projects" if kind == "project" else "groups", path, "invitations", acc.login or ""), "")
        uid = a.get("user_id") or "USER_ID"
        return ("block the user (blocked users cannot sign in, and their tokens stop working)",
                gl("POST", "users", uid, "block"),
                "a deactivated user is reactivated by signing in; block instead")
    if s == "kubernetes":
        kind, _, name = acc.native_id.partition(":")
        if kind == "ServiceAccount":
            ns, _, sa = name.partition("/")
            return ("delete the service account (after moving its workloads)",
                    f"kubectl -n {q(ns)} delete serviceaccount {q(sa)}", "")
        return ("Kubernetes has no user objects: remove the bindings that name them",
                f"kubectl get rolebindings,clusterrolebindings -A -o json | jq -r --arg kind {q(kind)} --arg name {q(name)} "
                "'.items[] | select(.subjects[]? | .kind == $kind and .name == $name) "
                "| .metadata.namespace + \" \" + .metadata.name'", "")
    if s == "okta":
        verb = "suspend" if suspended else "deactivate"
        return (f"{verb} the Okta user (ends sessions, and its API tokens stop working)",
                okta("POST", "users", acc.native_id, "lifecycle", verb), "")
    if s == "scim":
        return ("deactivate the SaaS account over SCIM",
                f"curl -sS -X PATCH -H \"Authorization: Bearer $SCIM_TOKEN\" -H 'Content-Type: application/scim+json' "
                f"\"$SCIM_URL/Users/{enc(acc.native_id)}\" -d '{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                f"\"Operations\":[{{\"op\":\"replace\",\"value\":{{\"active\":false}}}}]}}'",
                f"$SCIM_URL is the {acc.system} SCIM base URL")
    return (f"disable the {acc.kind}", f"# disable {cm(acc.login or acc.native_id)} in {cm(acc.source)}", "")
=======
def _remediation(system: str) -> Any:
    return remediation_modules().get(system.split(":", 1)[0])


def _ask(system: str, step: str, *args: Any) -> tuple[str, str, str] | None:
    """The source's own step, if its remediation module has one for this."""
    fn = getattr(_remediation(system), step, None)
    return fn(*args) if fn else None


def credential_step(c: Credential, acc: Account | None, objs: Objects | None = None) -> tuple[str, str, str]:
    """(action, command, note) that revokes credential ``c`` at its issuer: the step of
    the source that declares its system (``collectors/<source>/remediation.py``)."""
    step = _ask(c.system, "credential_step", c, acc)
    return step or (f"revoke the {c.kind.replace('_', ' ')}",
                    f"# revoke {c.kind} {c.name or c.native_id} in {c.source} (no revocation API is known for it)", "")


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str]:
    step = _ask(acc.system, "account_step", acc, suspended)
    return step or (f"disable the {acc.kind}", f"# disable {acc.login or acc.native_id} in {acc.source}", "")
>>>>>>> a863f9f (squash t14)


def owner_step(acc: Account | None, f: Finding) -> tuple[str, str, str]:
    """Record a new accountable owner for an NHI, where its ownership is recorded."""
    name = f.object_name or f.object_id
<<<<<<< HEAD
    if acc is not None:
        s = acc.system.split(":", 1)[0]
        mod = _source_steps(acc.system)
        if mod is not None and hasattr(mod, "owner_step"):  # where the source keeps its owner
            return mod.owner_step(acc)
        if s == "aws" and acc.kind == "role":
            return ("tag the role with its new owner",
                    f"aws iam tag-role --role-name {q(acc.login)} --tags Key=owner,Value=NEW_OWNER", "")
        if s == "aws":
            return ("tag the IAM user with its new owner",
                    f"aws iam tag-user --user-name {q(acc.login)} --tags Key=owner,Value=NEW_OWNER", "")
        if s == "kubernetes" and acc.native_id.startswith("ServiceAccount:"):
            ns, _, sa = acc.native_id.split(":", 1)[1].partition("/")
            return ("annotate the service account with its new owner",
                    f"kubectl -n {q(ns)} annotate serviceaccount {q(sa)} owner=NEW_OWNER --overwrite", "")
    return ("record a new owner in the roster",
            f"# roster: set the owner column of {cm(name)} to its new accountable owner",
            "the roster is where this NHI's ownership is recorded")
=======
    step = _ask(acc.system, "owner_step", acc, f) if acc is not None else None
    return step or ("record a new owner in the roster",
                    f"# roster: set the owner column of {name} to its new accountable owner",
                    "the roster is where this NHI's ownership is recorded")
>>>>>>> a863f9f (squash t14)


# --- per rule ---------------------------------------------------------------------------------


def _revoke(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    c, acc = cred_of(f, objs)
    if c is None:
        return (2, f"revoke the {f.object_kind}", f"# revoke {cm(f.object_kind)} {cm(f.object_name or f.object_id)} "
                f"in {cm(f.system)} (not in this scan's inventory: re-run the scan)", "")
    return (2, *credential_step(c, acc, objs))


def _rotate_credential(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Unrotated: issue a new one, move its users over, then revoke the old one. A
    leaver's own credential is not rotated (that would issue them a new one): revoked."""
    c, acc = cred_of(f, objs)
    if f.identity in objs.leavers:
        return _revoke(f, objs)
<<<<<<< HEAD
    if c is not None and c.system == "aws" and c.kind == "access_key":
        user = acc.login if acc else _arn_name(c.native_id.split("#")[0])
        _, revoke, _ = credential_step(c, acc, objs)
        find, _, revoke = revoke.partition("\n") if revoke.startswith(("kid=", "aws iam list-access-keys")) \
            else ("", "", revoke)
        return (1, "rotate the access key: create a new one, deploy it, then delete the old one",
                (f"{find}\n" if find else "") + f"aws iam create-access-key --user-name {q(user)}\n"
                f"# deploy the new key where the old one is used, then:\n{revoke}", "")
    if c is not None and c.system.startswith("gitlab") and c.kind == "pat":
        return (1, "rotate the token (GitLab issues a new one and revokes this one)",
                gl("POST", "personal_access_tokens", _tail(c.native_id), "rotate"),
                "deploy the new token where the old one is used")
=======
    own = _ask(c.system, "rotate_step", c, acc) if c is not None else None
    if own:
        return (1, *own)
>>>>>>> a863f9f (squash t14)
    phase, action, cmd, note = _revoke(f, objs)
    return (1, f"reissue, then {action}", f"# issue a replacement and deploy it, then:\n{cmd}", note)


def _no_expiry(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    c, _ = cred_of(f, objs)
    if f.identity in objs.leavers:
        return _revoke(f, objs)
<<<<<<< HEAD
    if c is not None and c.system.startswith("gitlab") and c.kind == "pat":
        return (1, "rotate the token with an expiry date",
                gl("POST", "personal_access_tokens", _tail(c.native_id), "rotate", query="?expires_at=YYYY-MM-DD"), "")
=======
    own = _ask(c.system, "no_expiry_step", c) if c is not None else None
    if own:
        return (1, *own)
>>>>>>> a863f9f (squash t14)
    return _rotate_credential(f, objs)


def _disable_account(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    if acc is None:
        return (4, f"disable the {f.object_kind}", f"# disable {cm(f.object_name or f.object_id)} in {cm(f.system)}", "")
    return (4, *account_step(acc, suspended=f.rule == "account.active_while_suspended"))


def _unowned(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Nobody answers for it: record an owner where the system keeps one (a tag, an
    annotation), else in the roster; removing it is the alternative, not the default
    (an unowned account can be the admin everything runs on)."""
    acc = objs.accounts.get(f.subject)
    if acc is not None and hasattr(_remediation(acc.system), "owner_step"):  # a tag, an annotation
        action, cmd, _ = owner_step(acc, f)
        note = "or remove it if nobody needs it: " + account_step(acc)[1].splitlines()[0]
        return (5, action, cmd, note)
    name = f.object_name or f.object_id
    note = ("or remove it if nobody needs it: " + account_step(acc)[1].splitlines()[0]) if acc else ""
    return (5, "record an owner in the roster",
            f"# roster: add a row for {cm(name)} ({cm(f.system)}) with its accountable owner", note)


def _nhi_owner(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Where the ownership was read from is where it is fixed: a tag or annotation on the
    NHI, or the roster's owner column."""
    acc = objs.accounts.get(f.subject)
    from_tag = str(f.evidence.get("link") or "").startswith("tag")
    return (5, *owner_step(acc if from_tag else None, f))


def _ci_secret(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    res = objs.resources.get(f.subject)
<<<<<<< HEAD
    parent = _after_pipe((res.attributes if res else {}).get("parent") or f.evidence.get("parent"))
    if f.system == "github" or f.system.startswith("github"):
        target = f"--repo {q(parent)}" if "/" in parent else f"--org {q(parent or 'ORG')}"
        if "/environments/" in f.object_id:
            env = f.object_id.split("/environments/", 1)[1].split("/", 1)[0]
            target += f" --env {q(env)}"
        return (1, "rotate the shared Actions secret: a new value at its issuer, then here",
                f"gh secret set {q(f.object_name)} {target}  # reads the new value from stdin",
                "rotate the value at its issuer first; the leaver may have copied the old one")
    kind, _, path = parent.partition(":")
    api = "projects" if kind == "project" else "groups"
    scope = (res.attributes.get("environment_scope") if res else None) or "*"
    flt = "" if scope == "*" else f"?filter[environment_scope]={enc(scope)}"
    return (1, "rotate the shared CI/CD variable: a new value at its issuer, then here",
            gl("PUT", api, path, "variables", f.object_name, query=flt) + " --form \"value=$NEW_VALUE\"",
            "rotate the value at its issuer first")


def _secret_store(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    region = f.evidence.get("region")
    r = f" --region {q(region)}" if region else ""
    if f.evidence.get("rotation_enabled"):
        cmd = f"aws secretsmanager rotate-secret --secret-id {q(f.object_id)}{r}"
    else:
        cmd = (f"# change the value at its issuer (the database, the API), then:\n"
               f"aws secretsmanager put-secret-value --secret-id {q(f.object_id)}{r} --secret-string \"$NEW_VALUE\"")
    cmd += f"\naws secretsmanager tag-resource --secret-id {q(f.object_id)}{r} --tags Key=owner,Value=NEW_OWNER"
    return (1, "rotate the secret the leaver owned and give it a new owner", cmd, "")


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
             "workloads that read it must restart to pick up the new value"), _revoke(f, objs)]
=======
    parent = after_pipe((res.attributes if res else {}).get("parent") or f.evidence.get("parent"))
    step = _ask(f.system, "ci_secret_step", f, res, parent)
    return (1, *(step or ("rotate the shared CI secret: a new value at its issuer, then here",
                          f"# set a new value for {f.object_name} in {f.system}", "")))
>>>>>>> a863f9f (squash t14)


def _exposure(f: Finding, objs: Objects) -> list[tuple[int, str, str, str]]:
    """A secret in a file: whoever read the file has it. With the credential known, roll
    out a replacement and clean the file (phase 1), then revoke it (phase 2); without,
    rotate it at its issuer."""
<<<<<<< HEAD
    where = cm(f"{f.location_path}:{f.location_line}" if f.location_line else (f.location_path or f.object_id))
    c, _ = _cred_of(f, objs)
=======
    where = f"{f.location_path}:{f.location_line}" if f.location_line else (f.location_path or f.object_id)
    c, _ = cred_of(f, objs)
>>>>>>> a863f9f (squash t14)
    if f.rule == "exposure.tfstate":
        tail = (f"# move the state to an encrypted remote backend with restricted access and delete {cm(f.location_path)}; "
                "every secret in it must be rotated")
    elif f.rule.startswith("exposure.history") or f.evidence.get("commit"):
        tail = (f"# remove it from {where}, then purge it from history: "
                f"git filter-repo --replace-text <(echo 'SECRET==>REDACTED') and force-push")
    else:
        tail = f"# remove it from {where} (read it from a secret store instead)"
    if c is None:
        rotate = (f"# rotate the {cm(f.evidence.get('detector') or 'secret')} "
                  f"{cm(f.evidence.get('hint') or f.object_name)} at its issuer")
        return [(1, "rotate the exposed secret at its issuer, then remove it from the file",
                 f"{rotate}\n{tail}", "whoever read the file has the secret")]
    return [(1, "replace the exposed credential where it is used, and remove it from the file",
             f"# issue a replacement for {cm(c.name or c.native_id)} ({cm(c.system)}) to whatever uses it\n{tail}",
             "whoever read the file has the secret: it is revoked in phase 2"), _revoke(f, objs)]


<<<<<<< HEAD
def _trust(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    role = f.object_name or _arn_name(f.object_id)
    principal = f.evidence.get("principal", "the principal")
    return (3, "remove the principal from the role's trust policy",
            f"aws iam get-role --role-name {q(role)} --query Role.AssumeRolePolicyDocument > trust.json\n"
            f"# edit trust.json: drop {cm(principal)}\n"
            f"aws iam update-assume-role-policy --role-name {q(role)} --policy-document file://trust.json", "")


def _eks_entry(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    cluster = _arn_name(str(f.evidence.get("cluster") or f.object_name.split(":", 1)[0]))
    return (3, "delete the EKS access entry",
            f"aws eks delete-access-entry --cluster-name {q(cluster)} --principal-arn {q(f.evidence.get('principal') or f.object_id)}", "")


def _sso_assignment(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    user_native, _, ps_uid = f.object_id.partition("->")
    ps = objs.resources.get(ps_uid)
    instance = (ps.attributes.get("instance") if ps else None) or "INSTANCE_ARN"
    account_id = ps_uid.split("|", 1)[0].split(":", 1)[-1] if "|" in ps_uid else "ACCOUNT_ID"
    return (3, "delete the Identity Center account assignment",
            f"aws sso-admin delete-account-assignment --instance-arn {q(instance)} --target-id {q(account_id)} "
            f"--target-type AWS_ACCOUNT --permission-set-arn {q(f.evidence.get('permission_set') or _after_pipe(ps_uid))} "
            f"--principal-type USER --principal-id {q(_arn_name(user_native))}", "")


=======
>>>>>>> a863f9f (squash t14)
def _invitation(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    if acc is None:
        return (3, "cancel the invitation", f"# cancel the invitation {cm(f.object_id)} in {cm(f.system)}", "")
    return (3, *account_step(acc))


def _deploy_key(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    return _revoke(f, objs)


<<<<<<< HEAD
def _gitlab_membership(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    kind, _, path = f.object_id.partition(":")
    api = "projects" if kind == "project" else "groups"
    login = f.evidence.get("account")
    acc = next((a for a in objs.accounts.values() if a.system == f.system and a.login == login), None)
    uid = acc.attributes.get("user_id") if acc else None
    return (3, f"remove the member from the GitLab {kind}",
            gl("DELETE", api, path, "members", uid or "USER_ID"),
            "an inherited membership is removed where it is granted (the parent group)")


def _schedule(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    project = f.evidence.get("project") or f.object_id.split(":schedule:", 1)[0]
    sid = _tail(f.object_id)
    return (3, "take ownership of the pipeline schedule (it runs as its owner), or delete it",
            gl("POST", "projects", project, "pipeline_schedules", sid, "take_ownership"),
            "run it with a bot's token, not a person's")


def _gitlab_deactivated(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    uid = acc.attributes.get("user_id") if acc else None
    return (4, "block the deactivated user (signing in would reactivate them)",
            gl("POST", "users", uid or "USER_ID", "block"), "")


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
                f"aws eks delete-access-entry --cluster-name {q(_arn_name(str(cluster)))} --principal-arn {q(principal)}", "")
    ns, _, name = (where or "kube-system/aws-auth").partition("/")
    return (3, "remove the IAM mapping from the aws-auth ConfigMap",
            f"kubectl -n {q(ns)} edit configmap {q(name)}  # delete the mapUsers/mapRoles entry for {cm(principal)}",
            "or: eksctl delete iamidentitymapping --cluster CLUSTER --arn " + q(principal))


def _okta_assignment(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    user_id, _, app = f.object_id.partition("->")
    app_id = app.split(":", 1)[-1]
    if f.evidence.get("assignment_scope") == "GROUP":
        return (3, "remove the user from the group that assigns the app",
                okta("GET", "apps", app_id, "groups") + "  # the groups assigning the app; then for each:\n"
                + okta("DELETE", "groups", "GROUP_ID", "users", user_id),
                "a group assignment cannot be removed per user")
    return (3, "unassign the user from the app",
            okta("DELETE", "apps", app_id, "users", user_id), "")


=======
>>>>>>> a863f9f (squash t14)
def _reference(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    where = cm(f"{f.location_path}:{f.location_line}" if f.location_line else (f.location_path or f.object_id))
    ctx = cm(f.evidence.get("context") or "")
    if f.rule == "reference.recreates_leaver":
        return (6, "remove the leaver from the code that would recreate their access",
                f"# {where} ({ctx}): remove or replace {cm(f.object_name)}, then review `terraform plan` / the next apply",
                "until this changes, the next apply grants the access again")
    return (6, "replace the leaver in the file",
            f"# {where} ({ctx}): replace {cm(f.object_name)} with a current owner", "")


def _agent(f: Finding, objs: Objects) -> Any:
    """An agent acting for a leaver: an MCP server's config gets a credential of its own
    (phase 1) before the leaver's is revoked (phase 2); an agent's own key is revoked; an
    agent whose sponsor left gets a new owner."""
    if f.object_kind == "mcp_server":
        where = f"{f.location_path}:{f.location_line}" if f.location_line else f.location_path
        return [(1, "give the MCP server a credential of its own (a service account or app token)",
                 f"# {where}: replace the leaver's credential in the {f.evidence.get('server')} entry's "
                 "env/headers with a reference to a secret store holding a team-owned credential",
                 "the agent stops working with the leaver's authority only once the file changes"),
                _revoke(f, objs)]
    if f.subject in objs.credentials:
        return _revoke(f, objs)
    return _nhi_owner(f, objs)


<<<<<<< HEAD
def _session(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Sessions end through the opt-in revoker (journaled, re-verified); the provider's
    own call is the note, for a responder without residual's write credentials."""
    cmd = f"residual revoke-sessions {q(f.identity or f.object_id)} --apply"
    user = _tail(str(f.path[1] if len(f.path) > 1 else f.object_id), "|")
    if f.rule == "session.assumed_role_not_revoked":
        note = (f"or: aws iam put-role-policy --role-name {q(f.object_name)} --policy-name "
                "AWSRevokeOlderSessions --policy-document file://deny-before-now.json")
    elif f.system == "okta":
        note = f"or: {OKTA} -X DELETE \"$OKTA_URL/api/v1/users/{user}/sessions?oauthTokens=true\""
    elif f.system == "slack":
        note = f"or: curl -sS -H \"Authorization: Bearer $SLACK_ADMIN_TOKEN\" -d user_id={q(user)} https://slack.com/api/admin.users.session.reset"
    else:
        note = f"or end the sessions in {f.system}'s admin console"
    return (2, "end the identity's live sessions", cmd, note)


=======

# The generic rules' builders; a source's own rules bring theirs (RULE_STEPS in its
# remediation module).
>>>>>>> a863f9f (squash t14)
STEP_BUILDERS: dict[str, Builder] = {
    "agent.acting_for_leaver": _agent,
    "session.live_after_termination": _session,
    "session.used_after_termination": _session,
    "session.assumed_role_not_revoked": _session,
    "account.active_after_termination": _disable_account,
    "account.active_while_suspended": _disable_account,
    "account.unowned": _unowned,
    "codehost.invitation_to_leaver": _invitation,
    "codehost.ci_secret_not_rotated": _ci_secret,
    "codehost.deploy_key_write_by_leaver": _deploy_key,
    "credential.live_of_leaver": _revoke,
    "credential.used_after_termination": _revoke,
    "credential.orphaned": _revoke,
    "nhi.owner_terminated": _nhi_owner,
    "credential.unused": _revoke,
    "credential.unrotated": _rotate_credential,
    "credential.no_expiry": _no_expiry,
    "exposure.live_credential": _exposure,
    "exposure.secret": _exposure,
    "exposure.tfstate": _exposure,
    "exposure.history_live": _exposure,
    "exposure.history_unverified": _exposure,
    "gitlab.impersonation_token_of_leaver": _revoke,
    "gitlab.token_created_by_leaver": _revoke,
    "kubernetes.client_cert_of_leaver": _revoke,
    "kubernetes.legacy_token_unused": _revoke,
    "kubernetes.sa_token_owner_left": _revoke,
    "okta.api_token_of_leaver": _revoke,
    "reference.recreates_leaver": _reference,
    "reference.leaver": _reference,
}


for _module in remediation_modules().values():
    STEP_BUILDERS.update(getattr(_module, "RULE_STEPS", {}))


def _fallback(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """A rule this module does not know yet: by what the finding is about."""
    if f.subject in objs.credentials:
        return _revoke(f, objs)
    if f.subject in objs.accounts:
        return _disable_account(f, objs)
    if f.layer == "iac":
        return _reference(f, objs)
    return (3, f"remove {f.object_kind or 'the access'} in {f.system}",
            f"# {cm(f.title)}: {cm(f.object_name or f.object_id)} ({cm(f.remediation)})",
            "no exact step is known for this rule yet")


def source_rule_steps() -> dict[str, Builder]:
    """Rule id -> builder, from the source packages' remediation modules."""
    return {rid: fn for m in remediation_modules().values() for rid, fn in getattr(m, "RULE_STEPS", {}).items()}


def steps_for(f: Finding, objs: Objects) -> list[Step]:
    """The revocation step(s) for one finding (two when a dependant must be served
    before the revocation: a secret in use)."""
    objs.revoke = objs.revoke or _revoke
    out = STEP_BUILDERS.get(f.rule, _fallback)(f, objs)
    return [Step(phase, f.system, action, command, f.fingerprint, f.rule, f.severity, note)
            for phase, action, command, note in (out if isinstance(out, list) else [out])]


def load_objects(inv: Inventory, scan_id: str, findings: list[Finding]) -> Objects:
    """The credentials, accounts and resources the findings' steps refer to."""
    subjects = {f.subject for f in findings}
    wanted_creds = subjects | {f"credential:{f.evidence.get('credential')}" for f in findings
                               if f.evidence.get("credential")}
    objs = Objects()
    for c in inv.iter(Credential, scan_id):
        if c.node in wanted_creds:
            objs.add(c)
    holders = {c.holder for c in objs.credentials.values() if c.holder}
    logins = {str(f.evidence.get("account")) for f in findings if f.evidence.get("account")}
    for a in inv.iter(Account, scan_id):
        if a.uid in holders or a.node in subjects or a.login in logins:
            objs.add(a)
    parents = {f.object_id.partition("->")[2] for f in findings if "->" in f.object_id}
    for r in inv.iter(Resource, scan_id):
        if r.node in subjects or r.uid in parents:
            objs.add(r)
    return objs


def build_plan(inv: Inventory, scan_id: str, identity: str) -> list[Step]:
    findings = [f for f in inv.load(Finding, scan_id, "identity = ?", [identity])
                if f.status != "waived" and severity_rank(f.severity) >= severity_rank("low")]
    objs = load_objects(inv, scan_id, findings)
    objs.leavers = {i.id for i in inv.load(Identity, scan_id, "id = ?", [identity]) if i.is_leaver}
    steps = sorted((st for f in findings for st in steps_for(f, objs)),
                   key=lambda s: (s.phase, -severity_rank(s.severity), s.system, s.command))
    return dedupe(steps) + [Step(7, "residual", "re-verify", f"residual verify --live {q(identity)}",
                                 "", "", "info", "exit 0 means every configured layer is clean")]


def dedupe(steps: list[Step]) -> list[Step]:
    """Two findings on one object (live, and used after termination; a key in a Secret
    that is revoked anyway) give one step: a step whose every command line is already
    planned (or, for an instruction only, whose text is) is dropped."""
    done: set[str] = set()
    out = []
    for st in steps:
        runnable = [ln for ln in st.command.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if (all(ln in done for ln in runnable) if runnable else st.command in done):
            continue
        done.update(runnable or [st.command])
        out.append(st)
    return out


def render_plan(steps: list[Step], identity: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"identity": identity, "steps": [asdict(s) for s in steps]}, indent=2)
    if fmt == "sh":
        lines = ["#!/bin/sh", f"# Revocation plan for {cm(identity)}, generated by residual (read-only).",
                 "# Review every step before running it. Order matters: see the phases.", "set -eu"]
        phase = None
        for s in steps:
            if s.phase != phase:
                phase = s.phase
                lines += ["", f"# --- phase {s.phase}: {PHASES[s.phase]}"]
            lines.append(cm(f"# [{s.severity}] {s.action} ({s.rule or 'check'} {s.finding[:12]})"))
            if s.note:
                lines.append(cm(f"# note: {s.note}"))
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
        body = "\n".join(f"   {line}" for line in s.command.splitlines())
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", body)), default=0))
        lines.append(f"   {fence}sh\n{body}\n   {fence}")  # no value can close the fence
        if s.note:
            lines.append(f"   _{s.note}_")
    return "\n".join(lines) + "\n"

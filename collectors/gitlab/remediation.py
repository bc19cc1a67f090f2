"""GitLab: the steps ``residual plan`` prints to revoke what this source found,
with curl against the REST API ($GITLAB_URL, $GITLAB_TOKEN). residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

from typing import Any

from collectors.remediation import Builder, Objects, after_pipe, enc, tail
from scanner.core.model import Account, Credential, Finding, Resource

GL = "curl -sS -g -H \"PRIVATE-TOKEN: $GITLAB_TOKEN\""  # GitLab REST, $GITLAB_URL = instance URL
# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"GITLAB_URL": "the GitLab instance URL, e.g. https://gitlab.example.com",
              "GITLAB_TOKEN": "a GitLab admin token with the api scope (not residual's read token)"}


def shell_env(blocks: list[dict]) -> dict[str, str]:
    """What the config knows: the instance URL, when one GitLab block is configured."""
    urls = {str(b.get("url")).rstrip("/") for b in blocks if b.get("url")}
    return {"GITLAB_URL": urls.pop()} if len(urls) == 1 else {}


def gl(method: str, *parts: Any, query: str = "") -> str:
    """A GitLab REST call on ``$GITLAB_URL/api/v4/<parts>`` (each part one segment)."""
    return f"{GL} -X {method} \"$GITLAB_URL/api/v4/{'/'.join(enc(p) for p in parts)}{query}\""


def credential_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """The step that revokes credential ``c`` at its issuer."""
    a = c.attributes
    tid = tail(c.native_id)
    parent = after_pipe(a.get("parent"))
    kind, _, path = parent.partition(":")
    api = "projects" if kind == "project" else "groups"
    if c.kind == "pat":
        ttype = a.get("token_type") or "personal_access_token"
        if ttype == "impersonation_token" or a.get("impersonation"):
            uid = a.get("user_id") or (acc.attributes.get("user_id") if acc else "USER_ID")
            return ("revoke the impersonation token", gl("DELETE", "users", uid, "impersonation_tokens", tid), "")
        if ttype in ("project_access_token", "group_access_token") and path:
            return (f"revoke the {ttype.replace('_', ' ')}", gl("DELETE", api, path, "access_tokens", tid), "")
        return ("revoke the personal access token", gl("DELETE", "personal_access_tokens", tid), "")
    if c.kind == "deploy_token":
        return ("revoke the deploy token", gl("DELETE", api, path or "PATH", "deploy_tokens", tid), "")
    if c.kind == "deploy_key":
        repo = a.get("repo") or path or "PROJECT"
        return ("delete the deploy key", gl("DELETE", "projects", repo, "deploy_keys", a.get("key_id") or tid), "")
    if c.kind == "ssh_key":
        uid = acc.attributes.get("user_id") if acc else None
        return ("delete the user's SSH key", gl("DELETE", "users", uid or "USER_ID", "keys", tid), "")
    return None


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    a = acc.attributes
    if acc.status == "pending":
        kind, _, path = after_pipe(a.get("invited_to")).partition(":")
        return ("delete the invitation",
                gl("DELETE", "projects" if kind == "project" else "groups", path, "invitations", acc.login or ""), "")
    return ("block the user (blocked users cannot sign in, and their tokens stop working)",
            gl("POST", "users", a.get("user_id") or "USER_ID", "block"),
            "a deactivated user is reactivated by signing in; block instead")


def _gitlab_membership(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    kind, _, path = f.object_id.partition(":")
    api = "projects" if kind == "project" else "groups"
    login = f.evidence.get("account")
    acc = next((a for a in objs.accounts.values() if a.system == f.system and a.login == login), None)
    uid = acc.attributes.get("user_id") if acc else None
    return (3, f"remove the member from the GitLab {kind}", gl("DELETE", api, path, "members", uid or "USER_ID"),
            "an inherited membership is removed where it is granted (the parent group)")


def _schedule(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    project = f.evidence.get("project") or f.object_id.split(":schedule:", 1)[0]
    return (3, "take ownership of the pipeline schedule (it runs as its owner), or delete it",
            gl("POST", "projects", project, "pipeline_schedules", tail(f.object_id), "take_ownership"),
            "run it with a bot's token, not a person's")


def _gitlab_deactivated(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    uid = acc.attributes.get("user_id") if acc else None
    return (4, "block the deactivated user (signing in would reactivate them)",
            gl("POST", "users", uid or "USER_ID", "block"), "")


def rotate_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """GitLab rotates a personal access token itself: a new one, the old one revoked."""
    if c.kind != "pat":
        return None
    return ("rotate the token (GitLab issues a new one and revokes this one)",
            gl("POST", "personal_access_tokens", tail(c.native_id), "rotate"),
            "deploy the new token where the old one is used")


def no_expiry_step(c: Credential) -> tuple[str, str, str] | None:
    if c.kind != "pat":
        return None
    return ("rotate the token with an expiry date",
            gl("POST", "personal_access_tokens", tail(c.native_id), "rotate", query="?expires_at=YYYY-MM-DD"), "")


def ci_secret_step(f: Finding, res: Resource | None, parent: str) -> tuple[str, str, str]:
    """A CI/CD variable of a group or project: a new value (after its issuer)."""
    kind, _, path = parent.partition(":")
    api = "projects" if kind == "project" else "groups"
    scope = (res.attributes.get("environment_scope") if res else None) or "*"
    flt = "" if scope == "*" else f"?filter[environment_scope]={enc(scope)}"
    return ("rotate the shared CI/CD variable: a new value at its issuer, then here",
            gl("PUT", api, path, "variables", f.object_name, query=flt) + " --form \"value=$NEW_VALUE\"",
            "rotate the value at its issuer first")


# rule id -> the step(s) for its findings (scanner/plan.py reads these)
RULE_STEPS: dict[str, Builder] = {
    "gitlab.membership_of_leaver": _gitlab_membership,
    "gitlab.pipeline_schedule_of_leaver": _schedule,
    "gitlab.deactivated_account_of_leaver": _gitlab_deactivated,
}

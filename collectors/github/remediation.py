"""GitHub: the steps ``residual plan`` prints to revoke what this source found,
with the gh CLI (gh api). residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

from typing import Any

from collectors.remediation import enc, q, tail
from scanner.core.model import Account, Credential, Finding, Resource


def ghp(*parts: Any) -> str:
    """A GitHub REST path for ``gh api``: one shell word of encoded segments."""
    return q("/" + "/".join(enc(p) for p in parts))


def credential_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """The step that revokes credential ``c`` at its issuer."""
    a = c.attributes
    org = c.source.split(":", 1)[1]
    if c.kind == "deploy_key":
        keys = ghp("repos", *str(a.get("repo") or "OWNER/REPO").split("/", 1), "keys")
        return ("delete the deploy key",
                f"gh api {keys} | jq -r --arg title {q(c.name)} '.[] | select(.title == $title) | .id' "
                f"| xargs -I{{}} gh api -X DELETE {keys}/{{}}",
                f"the key is found by its title {c.name!r}; its fingerprint is {c.fingerprint or 'unknown'}")
    if c.native_id.startswith("credential-authorization:"):
        return ("revoke the SAML SSO credential authorization (the token or key stops reaching the org)",
                f"gh api -X DELETE {ghp('orgs', org, 'credential-authorizations', tail(c.native_id))}",
                "the credential itself belongs to the user's GitHub account; removing them from the org ends its use here")
    if c.native_id.startswith("fine-grained-pat:"):
        return ("revoke the fine-grained PAT's access to the org",
                f"gh api -X POST {ghp('orgs', org, 'personal-access-tokens', a.get('grant_id') or tail(c.native_id))} -f action=revoke",
                "needs a GitHub App token with organization personal access tokens: write")
    if c.kind == "ssh_key":
        login = acc.login if acc else c.native_id.split("/", 1)[0]
        return ("a user's SSH key belongs to their GitHub account: remove them from the org",
                f"gh api -X DELETE {ghp('orgs', org, 'memberships', login)}", "")
    return None


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    a = acc.attributes
    org = acc.source.split(":", 1)[1]
    if a.get("invitation") or acc.status == "pending":
        return ("cancel the invitation",
                f"gh api -X DELETE {ghp('orgs', org, 'invitations', a.get('invitation_id', tail(acc.native_id)))}", "")
    if a.get("outside_collaborator"):
        return ("remove the outside collaborator",
                f"gh api -X DELETE {ghp('orgs', org, 'outside_collaborators', acc.login)}", "")
    return ("remove the member from the org (and their team memberships with it)",
            f"gh api -X DELETE {ghp('orgs', org, 'memberships', acc.login)}", "")


def ci_secret_step(f: Finding, res: Resource | None, parent: str) -> tuple[str, str, str]:
    """An Actions secret: set a new value (after rotating it at its issuer)."""
    target = f"--repo {q(parent)}" if "/" in parent else f"--org {q(parent or 'ORG')}"
    if "/environments/" in f.object_id:
        env = f.object_id.split("/environments/", 1)[1].split("/", 1)[0]
        target += f" --env {q(env)}"
    return ("rotate the shared Actions secret: a new value at its issuer, then here",
            f"gh secret set {q(f.object_name)} {target}  # reads the new value from stdin",
            "rotate the value at its issuer first; the leaver may have copied the old one")

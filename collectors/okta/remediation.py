"""Okta: the steps ``residual plan`` prints to revoke what this source found,
with curl against the Okta API ($OKTA_URL, $OKTA_TOKEN). residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

from typing import Any

from collectors.remediation import Builder, Objects, after_pipe, enc, tail
from scanner.core.model import Account, Credential, Finding

OKTA = "curl -sS -g -H \"Authorization: SSWS $OKTA_TOKEN\""  # $OKTA_URL = https://<org>.okta.com
# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"OKTA_URL": "the Okta org URL, e.g. https://acme.okta.com",
              "OKTA_TOKEN": "an Okta API token of an admin who may deactivate users (not residual's read token)"}


def shell_env(blocks: list[dict]) -> dict[str, str]:
    """What the config knows: the org URL, when one Okta block is configured."""
    urls = {str(b.get("base_url") or (f"https://{b['domain']}" if b.get("domain") else "")).rstrip("/")
            for b in blocks} - {""}
    return {"OKTA_URL": urls.pop()} if len(urls) == 1 else {}


def okta(method: str, *parts: Any, query: str = "") -> str:
    """An Okta REST call on ``$OKTA_URL/api/v1/<parts>`` (each part one segment)."""
    return f"{OKTA} -X {method} \"$OKTA_URL/api/v1/{'/'.join(enc(p) for p in parts)}{query}\""


def credential_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """The step that revokes credential ``c`` at its issuer."""
    if c.kind == "api_key":
        return ("revoke the API token", okta("DELETE", "api-tokens", c.native_id), "")
    if c.kind == "mfa_device":
        return ("reset the enrolled factor",
                okta("DELETE", "users", after_pipe(c.holder), "factors", tail(c.native_id)), "")
    return None


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    verb = "suspend" if suspended else "deactivate"
    return (f"{verb} the Okta user (ends sessions, and its API tokens stop working)",
            okta("POST", "users", acc.native_id, "lifecycle", verb), "")


def session_note(f: Finding, user: str) -> str:
    """The provider's own call that ends the user's sessions and OAuth tokens."""
    return "or: " + okta("DELETE", "users", user, "sessions", query="?oauthTokens=true")


def _okta_assignment(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    user_id, _, app = f.object_id.partition("->")
    app_id = app.split(":", 1)[-1]
    if f.evidence.get("assignment_scope") == "GROUP":
        return (3, "remove the user from the group that assigns the app",
                okta("GET", "apps", app_id, "groups") + "  # the groups assigning the app; then for each:\n"
                + okta("DELETE", "groups", "GROUP_ID", "users", user_id),
                "a group assignment cannot be removed per user")
    return (3, "unassign the user from the app", okta("DELETE", "apps", app_id, "users", user_id), "")


# rule id -> the step(s) for its findings (scanner/plan.py reads these)
RULE_STEPS: dict[str, Builder] = {
    "okta.app_assignment_of_leaver": _okta_assignment,
}

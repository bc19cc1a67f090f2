"""``residual plan`` steps for Atlassian: revoke a user's API token, deactivate a user."""

from __future__ import annotations

from collectors.remediation import q

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"ATLASSIAN_ADMIN_KEY": "an Atlassian organization admin API key"}


API = 'curl -sS -H "Authorization: Bearer $ATLASSIAN_ADMIN_KEY"'


def credential_step(c, acc):
    if c.kind != "api_key":
        return None
    user = q(acc.native_id if acc else (c.holder or "ACCOUNT_ID").split("|", 1)[-1])
    return ("revoke the user's API token",
            f"{API} -X DELETE https://api.atlassian.com/users/{user}/manage/api-tokens/{q(c.native_id)}",
            "Atlassian deletes the token permanently")


def account_step(acc, suspended=False):
    return ("deactivate the managed account (its API tokens stop working)",
            f"{API} -X POST https://api.atlassian.com/users/{q(acc.native_id)}/manage/lifecycle/disable", "")

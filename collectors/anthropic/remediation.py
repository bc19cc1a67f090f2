"""``residual plan`` steps for Anthropic: archive a key (the Admin API's way to revoke
one: ``status: archived`` is final), remove a user."""

from __future__ import annotations

from collectors.remediation import q

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"ANTHROPIC_ADMIN_KEY": "an Anthropic Admin API key"}


API = 'curl -sS -H "x-api-key: $ANTHROPIC_ADMIN_KEY" -H "anthropic-version: 2023-06-01"'


def credential_step(c, acc):
    if c.kind != "api_key":
        return None
    return ("archive the API key (an archived key cannot be re-activated)",
            f"{API} -X POST https://api.anthropic.com/v1/organizations/api_keys/{q(c.native_id)} "
            "-H 'content-type: application/json' -d '{\"status\": \"archived\"}'", "")


def account_step(acc, suspended=False):
    return ("remove the user from the organization",
            f"{API} -X DELETE https://api.anthropic.com/v1/organizations/users/{q(acc.native_id)}",
            "their keys keep working: archive each one too")

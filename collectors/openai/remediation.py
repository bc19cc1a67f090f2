"""``residual plan`` steps for OpenAI: the Admin API's delete calls, ids shell-quoted."""

from __future__ import annotations

from collectors.remediation import q

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"OPENAI_ADMIN_KEY": "an OpenAI Admin API key"}


API = 'curl -sS -H "Authorization: Bearer $OPENAI_ADMIN_KEY"'


def credential_step(c, acc):
    if c.kind != "api_key":
        return None
    kid = q(c.native_id)
    if c.attributes.get("admin"):
        return ("delete the admin API key",
                f"{API} -X DELETE https://api.openai.com/v1/organization/admin_api_keys/{kid}", "")
    pid = q(str(c.attributes.get("project_id") or "PROJECT_ID"))
    return ("delete the project API key",
            f"{API} -X DELETE https://api.openai.com/v1/organization/projects/{pid}/api_keys/{kid}", "")


def account_step(acc, suspended=False):
    uid = q(acc.native_id)
    if acc.kind == "service_account":
        pid = q(str(acc.attributes.get("project_id") or "PROJECT_ID"))
        return ("delete the service account (its keys go with it)",
                f"{API} -X DELETE https://api.openai.com/v1/organization/projects/{pid}/service_accounts/{uid}", "")
    return ("remove the user from the organization",
            f"{API} -X DELETE https://api.openai.com/v1/organization/users/{uid}",
            "their project keys stop working with it; admin keys they own must be deleted too")


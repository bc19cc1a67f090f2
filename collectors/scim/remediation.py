"""SCIM: the steps ``residual plan`` prints to revoke what this source found,
with curl against the SCIM API ($SCIM_URL, $SCIM_TOKEN). residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

from collectors.remediation import enc
from scanner.core.model import Account

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"SCIM_URL": "the SaaS app's SCIM base URL",
              "SCIM_TOKEN": "a SCIM bearer token that may update users (not residual's read token)"}


def shell_env(blocks: list[dict]) -> dict[str, str]:
    """What the config knows: the SCIM base URL, when one SCIM block is configured."""
    urls = {str(b.get("url")).rstrip("/") for b in blocks if b.get("url")}
    return {"SCIM_URL": urls.pop()} if len(urls) == 1 else {}


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    return ("deactivate the SaaS account over SCIM",
            f"curl -sS -X PATCH -H \"Authorization: Bearer $SCIM_TOKEN\" -H 'Content-Type: application/scim+json' "
            f"\"$SCIM_URL/Users/{enc(acc.native_id)}\" -d '{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
            f"\"Operations\":[{{\"op\":\"replace\",\"value\":{{\"active\":false}}}}]}}'",
            f"$SCIM_URL is the {acc.system} SCIM base URL")

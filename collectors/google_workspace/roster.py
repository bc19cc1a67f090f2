"""Google Workspace as a roster source: every Directory user as an identity, merged with
the other sources by e-mail (primary address and aliases)."""

from __future__ import annotations

import logging
from typing import Any

from collectors.google_workspace.collector import OPTIONS, USERS, list_users, make_client
from collectors.google_workspace.transform import user_to_identity
from scanner.core.model import Identity
from collectors.roster import RosterContext, distinct_identities, roster_source

log = logging.getLogger("residual.collectors.google_workspace")

ROSTER_OPTIONS = {k: OPTIONS[k] for k in ("customer", "subject", "credentials_file", "api_endpoint",
                                          "page_size")}


@roster_source("google_workspace", options=ROSTER_OPTIONS)
def load_workspace_roster(block: dict[str, Any], ctx: RosterContext) -> list[Identity]:
    """Suspended and archived users are ``suspended`` leavers (the Directory does not say
    since when: a CSV or HR source merged with it gives the date)."""
    customer = block.get("customer") or "my_customer"

    def count() -> None:
        ctx.api_calls["google_workspace"] = ctx.api_calls.get("google_workspace", 0) + 1  # the coverage target

    client = make_client(block, 30.0, 4, 10_000, count, scopes=[USERS], base_dir=ctx.base_dir)
    return distinct_identities(list_users(client, customer, int(block.get("page_size") or 500)),
                               lambda p: user_to_identity(p, customer), log, f"google_workspace roster {customer}")

"""Entra ID as a roster source: every user of the tenant as an identity, merged with the
other sources by e-mail (collectors.roster.merge), like Okta and SCIM.

``employeeLeaveDateTime`` (HR's leave date, synced by the HR connector or set by
lifecycle workflows) in the past makes a user terminated since then; a disabled account
without one is suspended. One ``/users`` listing, ``$top=999``.
"""

from __future__ import annotations

import logging
from typing import Any

from collectors.entra import transform as t
from collectors.entra.auth import AUTH_OPTIONS
from collectors.entra.collector import graph_client
from scanner.core.options import Option
from scanner.core.model import Identity
from collectors.roster import RosterContext, distinct_identities, roster_source

log = logging.getLogger("residual.collectors.entra")


class _Net:
    """The network bounds a roster source runs under (the roster has no collector context)."""
    timeout_s, max_retries, max_pages = 30.0, 4, 10_000


@roster_source("entra", options={**AUTH_OPTIONS, "base_url": Option(str), "graph_scope": Option(str)})
def load_entra_roster(block: dict[str, Any], ctx: RosterContext) -> list[Identity]:
    tenant = block["tenant_id"]

    def count() -> None:
        ctx.api_calls[tenant] = ctx.api_calls.get(tenant, 0) + 1

    client = graph_client(block, _Net(), count)
    now = ctx.now
    return distinct_identities(client.items("/users", {"$select": t.USER_SELECT, "$top": "999"}),
                               lambda p: t.user_to_identity(p, tenant, now), log, f"entra roster {tenant}")

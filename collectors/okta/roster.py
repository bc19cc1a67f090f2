"""The ``okta`` roster source: Okta users as roster identities (who is who, who left
and since when), read with the same client as the collector."""

from __future__ import annotations

import logging
from typing import Any

from collectors.roster import RosterContext, distinct_identities, roster_source
from collectors.okta.collector import OktaClient, transform_user
from scanner.core.model import Identity
from scanner.core.options import Option
from scanner.core.timeparse import parse_time

log = logging.getLogger("residual.collectors.okta")


def user_to_identity(payload: Any, domain: str) -> Identity:
    """An Okta user as a roster identity: DEPROVISIONED = terminated, SUSPENDED =
    suspended, each since ``statusChanged``."""
    acc = transform_user(payload, f"okta:{domain}")
    okta_status = acc.attributes["okta_status"]
    status = {"DEPROVISIONED": "terminated", "SUSPENDED": "suspended"}.get(okta_status, "active")
    return Identity(id=(acc.email or acc.login).lower(), name=acc.attributes["display_name"],
                    kind="human", status=status,
                    terminated_at=parse_time(payload.get("statusChanged")) if status != "active" else None,
                    emails=acc.attributes["linked_emails"][:1] or [acc.login.lower()],
                    aliases=[f"okta:{acc.login}"], sources=[f"okta:{domain}"],
                    attributes={"okta_id": acc.native_id, "okta_status": okta_status})


@roster_source("okta", options={"domain": Option(str, required=True),
                                "token": Option(str, secret=True),
                                "base_url": Option(str),
                                "token_type": Option(str, default="SSWS", choices=("SSWS", "Bearer")),
                                "page_size": Option(int, default=200)})
def load_okta_roster(block: dict[str, Any], ctx: RosterContext) -> list[Identity]:
    """Every Okta user as an identity, deactivated ones included (asked for explicitly)."""
    domain = block["domain"]

    def count() -> None:
        ctx.api_calls[domain] = ctx.api_calls.get(domain, 0) + 1

    client = OktaClient(block.get("base_url") or f"https://{domain}", block.get("token"),
                        on_call=count, token_type=block.get("token_type") or "SSWS")
    return distinct_identities(client.users(max(1, min(200, int(block.get("page_size") or 200)))),
                               lambda p: user_to_identity(p, domain), log, f"okta roster {domain}")

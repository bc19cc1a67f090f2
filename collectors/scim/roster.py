"""The ``scim`` roster source: SCIM users as roster identities (who is who, who left
and since when), read with the same client as the collector."""

from __future__ import annotations

import logging
from typing import Any

from collectors.roster import RosterContext, distinct_identities, roster_source
from collectors.scim.collector import ScimClient, transform_user, OPTIONS
from scanner.core.model import Identity
from scanner.core.timeparse import parse_time

log = logging.getLogger("residual.collectors.scim")


def user_to_identity(payload: Any, source_name: str) -> Identity:
    """A SCIM User as a roster identity: ``active: false`` = terminated at lastModified."""
    acc = transform_user(payload, f"scim:{source_name}")
    ident_id = acc.email or acc.login.lower()
    active = payload.get("active") is not False
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    attrs = {k: acc.attributes[k] for k in ("employee_number", "manager", "department")
             if k in acc.attributes}
    name = payload.get("displayName") or (payload.get("name") or {}).get("formatted") or ""
    return Identity(id=ident_id, name=str(name), kind="human",
                    status="active" if active else "terminated",
                    terminated_at=None if active else parse_time(meta.get("lastModified")),
                    emails=acc.attributes["linked_emails"] or ([acc.email] if acc.email else []),
                    sources=[f"scim:{source_name}"], attributes=attrs)


@roster_source("scim", options=OPTIONS)
def load_scim_roster(block: dict[str, Any], ctx: RosterContext) -> list[Identity]:
    """Identities from a SCIM server that is a system of record (an HR app, an IdP)."""
    target = block["url"]

    def count() -> None:
        ctx.api_calls[target] = ctx.api_calls.get(target, 0) + 1

    client = ScimClient(block["url"], block.get("token"), on_call=count)
    return distinct_identities(client.list("Users", max(1, int(block.get("page_size") or 100)), block.get("filter")),
                               lambda p: user_to_identity(p, block["name"]), log, f"scim roster {block['name']}")

"""AI agents: non-human identities that act with a person's authority.

An agent is marked by (docs/agents.md, configurable):
- the roster: an identity of ``kind: agent`` (its accounts are the agent's);
- a tag or annotation ``kind``/``residual.io/kind``/``type`` = ``agent`` (or ``agent: true``);
- its name or description matching ``policy.agent_name_pattern`` (default: the words
  agent, AI agent, MCP, copilot, assistant, LLM) on a service account, app or key;
- an MCP server entry in an agent configuration file (collectors/iac/agents.py).

"Still acting with the authority of someone who left": the agent's owner or sponsor (the
roster ``owner``, an ``owner`` tag) left while the agent is live, or the credential it uses
(an MCP server's token, the agent's key) belongs to a leaver and still works.
"""

from __future__ import annotations

import re
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI3, Hit, rule
from rules.context import RuleContext
from rules.credentials import is_live
from scanner.core.model import Account, Credential

AGENT_TAG_KEYS = ("kind", "residual.io/kind", "type", "nhi-kind")


def _rx(ctx: RuleContext) -> re.Pattern[str]:
    return re.compile(ctx.policy.agent_name_pattern)


def agent_account(ctx: RuleContext, acc: Account, rx: re.Pattern[str]) -> str | None:
    """Why this account is an agent (the marker), or None."""
    link = ctx.links.get(acc.uid)
    ident = ctx.identities.get(link.identity) if link and link.relation == "is" else None
    if ident is not None and ident.kind == "agent":
        return f"roster kind agent ({ident.id})"
    tags = {str(k).lower(): str(v).lower() for k, v in
            {**(acc.attributes.get("annotations") or {}), **(acc.attributes.get("tags") or {})}.items()}
    for k in AGENT_TAG_KEYS:
        if tags.get(k) in ("agent", "ai-agent", "ai_agent"):
            return f"tag {k}={tags[k]}"
    if tags.get("agent") in ("true", "yes", "1"):
        return "tag agent=true"
    if acc.kind in ("service_account", "app", "bot"):
        for text in (acc.login, acc.attributes.get("display_name"), acc.attributes.get("description")):
            if isinstance(text, str) and rx.search(text):
                return f"name {text!r}"
    return None


def agent_credential(c: Credential, rx: re.Pattern[str]) -> str | None:
    for text in (c.name, c.attributes.get("description")):
        if isinstance(text, str) and rx.search(text):
            return f"name {text!r}"
    return None


@rule(id="agent.acting_for_leaver",
      title="AI agent still acting with the authority of someone who left",
      severity="high",
      frameworks=[NHI1, NHI3, CSF_AA01, CSF_AA05],
      remediation="Give the agent its own credential owned by a current team (a service "
                  "account or app, not a person's token), revoke the leaver's credential it "
                  "used, and record a new owner; an agent nobody sponsors should be retired.")
def acting_for_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Three ways: an MCP server configured with a leaver's live credential; an agent's
    key or token held by a leaver; an agent whose owner or sponsor left. Critical when
    the leaver's credential is live and was used after their termination."""
    rx = _rx(ctx)
    mcp = {r.uid: r for r in ctx.resources.values() if r.kind == "mcp_server"}
    done: set[tuple[str, str]] = set()
    for e in ctx.exposures:
        server = e.attributes.get("mcp_server")
        if not server or e.in_head is False:
            continue
        res = mcp.get(f"{e.source}|mcp:{e.location}#{server}")
        cred = ctx.credentials_by_uid.get(e.matched_credential or "")
        if res is None or cred is None or not is_live(cred, ctx):
            continue
        ident = ctx.identity_of(cred.holder) or ctx.owner_of(cred.holder)
        if ident is None or not ident.is_leaver or (res.uid, ident.id) in done:
            continue
        done.add((res.uid, ident.id))
        used_after = bool(ident.terminated_at and cred.last_used_at and cred.last_used_at > ident.terminated_at)
        acc = ctx.accounts.get(cred.holder or "")
        yield Hit(subject=res.node, system=res.system, object_kind="mcp_server", object_id=res.native_id,
                  object_name=res.name, identity=ident.id, severity="critical" if used_after else None,
                  location_path=res.attributes.get("location"), location_line=res.attributes.get("line"),
                  evidence={"why": "the MCP server is configured with the leaver's live credential",
                            "server": res.name, "transport": res.attributes.get("transport"),
                            "command": res.attributes.get("command"), "url": res.attributes.get("url"),
                            "credential": cred.uid, "credential_system": cred.system, "hint": e.hint,
                            "last_used_at": cred.last_used_at, "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, cred.node, e.node, res.node) if n])
    for c in ctx.credentials:
        holder = ctx.accounts.get(c.holder or "")
        marker = agent_credential(c, rx) or (agent_account(ctx, holder, rx) if holder else None)
        if not marker or not is_live(c, ctx):
            continue
        ident = ctx.identity_of(c.holder)
        if ident is None or not ident.is_leaver:
            continue
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=c.name, identity=ident.id,
                  evidence={"why": "the agent's credential belongs to a leaver", "agent_marker": marker,
                            "holder": holder.login if holder else c.holder, "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, holder.node if holder else None, c.node) if n])
    for uid, acc in ctx.accounts.items():
        if acc.status != "active":
            continue
        marker = agent_account(ctx, acc, rx)
        owner = ctx.owner_of(uid) if marker else None
        if owner is None or not owner.is_leaver:
            continue
        live = [c.name or c.native_id for c in ctx.credentials_by_holder.get(uid, []) if is_live(c, ctx)]
        yield Hit(subject=acc.node, system=acc.system, object_kind=acc.kind, object_id=acc.native_id,
                  object_name=acc.login, identity=owner.id,
                  evidence={"why": "the agent's owner or sponsor left", "agent_marker": marker,
                            "owner": owner.id, "owner_terminated_at": owner.terminated_at,
                            "live_credentials": live},
                  path=[owner.node, acc.node])

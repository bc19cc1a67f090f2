"""Revoking one identity's sessions from the inventory: plan from the latest scan about
them, execute (``collectors.revoke.execute``), re-verify with ``verify --live``.

Here and not in ``collectors/revoke.py`` because the re-verify runs a scan (the pipeline),
which sits above the collectors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collectors.registry import collector_classes
from collectors.revoke import (
    RevokeContext, RevokeRefused, execute, leaver_or_refuse, open_run, plan_actions,
    revoker_classes, subject_accounts, summary_line,
)
from scanner.config import Config, check_block
from scanner.core.errors import ConfigError
from scanner.core.model import Identity
from scanner.engine import overall
from scanner.core.store import Inventory
from scanner.pipeline import run_scan
from scanner.resolve import Resolver


def configured_revokers(config: Config, now: datetime) -> list[Any]:
    """One revoker per source block that has a ``revoke:`` block, validated here (a wrong
    key is a ConfigError naming it). Raises RevokeRefused when no source has one."""
    classes = revoker_classes()
    readers = collector_classes()
    out = []
    for name, blocks in config.collectors.items():
        for i, block in enumerate(blocks):
            raw = block.get("revoke")
            if raw is None:
                continue
            where = f"collectors.{name}[{i}].revoke"
            cls = classes.get(name)
            if cls is None:
                raise ConfigError(f"{config.path}: {where}: {name} has no session revoker "
                                  f"(revokers: {', '.join(sorted(classes)) or 'none'})")
            checked = check_block(raw, getattr(cls, "options", {}), where, config.path)
            options = readers[name].options if name in readers else {}
            read = {k: v for k, v in block.items()
                    if k != "revoke" and not (k in options and options[k].secret)}
            ctx = RevokeContext(system=name, read_config=read, now=now,
                                timeout_s=float(config.network.get("timeout_s") or 30.0),
                                max_retries=int(config.network.get("max_retries") or 0),
                                base_dir=config.base_dir)
            out.append(cls(checked, ctx))
    if not out:
        raise RevokeRefused("no source has a `revoke:` block with write credentials; "
                            "nothing can be revoked (see docs/realtime.md)")
    return out


def revoke_identity(config: Any, inv: Any, name: str, *, apply: bool,
                    echo: Any = lambda s: None,
                    extra_identities: tuple[str, list[Identity]] | None = None) -> Any:
    """Plan from the latest scan about ``name`` and execute (collectors.revoke.execute):
    the re-verify is ``verify --live`` of the identity, with ``extra_identities`` added to
    the roster (watch passes the event's identity: see ``pipeline.load_roster``)."""
    configured_revokers(config, datetime.now(UTC))  # refuse (one line) before reading anything
    # any finished run will do to find who NAME is (a targeted verify included)
    rows = inv.query("SELECT scan_id FROM scans WHERE status IN ('complete', 'incomplete') "
                     "ORDER BY seq DESC LIMIT 1")
    sid = rows[0][0] if rows else None
    if not sid:
        raise RevokeRefused("no scan yet; run `residual scan` or `residual verify --live` first")
    found = Resolver(inv.load(Identity, sid)).find(name)
    sid = inv.latest_scan_about(found.id) if found else sid
    ident = Resolver(inv.load(Identity, sid)).find(name) if sid else None
    ident = leaver_or_refuse(ident, name)
    resumed = open_run(inv, ident.id) if apply else None
    now = resumed["start"]["at"] if resumed else datetime.now(UTC)
    revokers = configured_revokers(config, now)
    actions = plan_actions(revokers, ident, subject_accounts(inv, sid, ident.id))
    echo(f"{len(actions)} session action(s) for {ident.id} (from scan {sid})")

    def reverify() -> dict[str, Any]:
        result = run_scan(config, inv, command=Inventory.VERIFY_LIVE, verify={ident.id},
                          extra_identities=extra_identities)
        layers = result.verdicts.get(ident.id, {})
        return {"verdict": overall(layers), "layers": layers, "scan_id": result.scan_id}

    report = execute(inv, ident, revokers, actions, apply=apply,
                     reverify=reverify if apply else None, echo=echo)
    echo(summary_line(report))
    return report

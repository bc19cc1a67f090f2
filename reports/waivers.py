"""Waivers: accepted findings, with a reason, an approver and an expiry date.

A waiver matches a finding by fingerprint, or by rule plus an object pattern (fnmatch on
the object id or name). Waived findings are shown as waived, never hidden; an expired
waiver stops applying (and the finding says which waiver expired).
"""

from __future__ import annotations

import fnmatch
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Callable

import yaml

from scanner.core.errors import ConfigError
from scanner.core.model import Finding

WAIVER_KEYS = {"fingerprint", "rule", "object", "identity", "reason", "approver", "expires"}


def load_waivers(path: Path, today: date | None = None) -> Callable[[Finding], dict[str, Any] | None]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: waivers file not found") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    items = data.get("waivers", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"{path}: waivers: expected a list")
    waivers = []
    for i, w in enumerate(items):
        if not isinstance(w, dict):
            raise ConfigError(f"{path}: waivers[{i}]: expected a mapping")
        for k in w:
            if k not in WAIVER_KEYS:
                raise ConfigError(f"{path}: waivers[{i}].{k}: unknown key")
        for k in ("reason", "approver", "expires"):
            if not w.get(k):
                raise ConfigError(f"{path}: waivers[{i}].{k}: required key is missing")
        if not (w.get("fingerprint") or w.get("rule")):
            raise ConfigError(f"{path}: waivers[{i}]: needs fingerprint or rule")
        exp = w["expires"]
        if isinstance(exp, str):
            try:
                exp = date.fromisoformat(exp)
            except ValueError:
                raise ConfigError(f"{path}: waivers[{i}].expires: not an ISO date") from None
        if isinstance(exp, datetime):
            exp = exp.date()
        waivers.append({**w, "expires": exp})
    today = today or datetime.now(UTC).date()

    def waive(f: Finding) -> dict[str, Any] | None:
        for w in waivers:
            if w.get("fingerprint") and w["fingerprint"] != f.fingerprint:
                continue
            if w.get("rule") and w["rule"] != f.rule:
                continue
            if w.get("identity") and w["identity"] != f.identity:
                continue
            if w.get("object") and not (fnmatch.fnmatch(f.object_id, w["object"]) or
                                        fnmatch.fnmatch(f.object_name, w["object"])):
                continue
            info = {"reason": w["reason"], "approver": w["approver"],
                    "expires": w["expires"].isoformat()}
            if w["expires"] < today:
                f.evidence = {**f.evidence, "expired_waiver": info}
                continue
            return info
        return None

    waive.waivers = waivers  # type: ignore[attr-defined]  # for reports: what was loaded
    return waive

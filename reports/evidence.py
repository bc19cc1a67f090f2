"""Renderers for `residual evidence` (scanner.evidence builds the data).

Four shapes for four readers: JSON for tools, CSV in the shape auditors sample from (one
row per leaver and access item, control ids on every row), Markdown for a ticket, HTML to
read and print (a population table with SLA status, a drill-down per leaver with a
timeline per access item as inline SVG: no script, no external asset).

Integrity: every report ends with (or, for CSV, sits beside) a manifest whose
``report_sha256`` covers the bytes before it; ``verify_file`` re-checks it, so a sample
handed to an auditor can be shown unchanged later.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports.markdown import code, md_escape
from scanner.evidence import MANIFEST_MARK, Evidence, jsonable, manifest

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("html", "csv", "json", "md")

CSV_COLUMNS = (
    "leaver_id", "leaver_name", "kind", "source", "terminated_at", "notified_at",
    "item_kind", "system", "layer", "item", "handle", "item_uid", "first_seen", "last_seen_live",
    "gone_in_scan", "state", "returns_on", "removal_at", "removal_basis", "removal_event_id",
    "removal_actor", "hours_from_termination", "hours_from_notification", "sla_hours",
    "sla", "open_age_days", "note", "controls")


def _t(value: Any) -> str:
    return "" if value is None else str(jsonable(value))


def csv_rows(ev: Evidence) -> list[dict[str, Any]]:
    """One row per leaver and access item; a leaver with no item still has a row (a clean
    leaver is part of the population), and each coverage gap is a row of its own."""
    rows = []
    controls = " ".join(ev.controls)
    for lv in ev.population:
        base = {"leaver_id": lv.id, "leaver_name": lv.name, "kind": lv.kind,
                "source": lv.source, "terminated_at": _t(lv.terminated_at),
                "notified_at": _t(lv.notified_at), "sla_hours": ev.sla_hours,
                "controls": controls}
        for i in lv.items:
            e = i.removal_event or {}
            rows.append({**base, "item_kind": i.kind, "system": i.system, "layer": i.layer,
                         "item": i.name, "handle": i.handle, "item_uid": i.uid, "first_seen": _t(i.first_seen),
                         "last_seen_live": _t(i.last_seen_live), "gone_in_scan": i.gone_in_scan or "",
                         "state": i.state, "returns_on": i.returns_on,
                         "removal_at": _t(i.removal_at),
                         "removal_basis": i.removal_basis, "removal_event_id": e.get("id", ""),
                         "removal_actor": e.get("actor", ""),
                         "hours_from_termination": _t(i.hours_from_termination and round(i.hours_from_termination, 2)),
                         "hours_from_notification": _t(i.hours_from_notification and round(i.hours_from_notification, 2)),
                         "sla": i.sla, "open_age_days": _t(i.age_days and round(i.age_days, 1)),
                         "note": i.note})
        for g in lv.gaps:
            rows.append({**base, "item_kind": "coverage", "layer": g["layer"],
                         "state": "not_evidenced", "sla": "unproven",
                         "note": f"layer {g['layer']} was {g['verdict']} in scan {g['scan']}"})
        if not lv.items and not lv.gaps:
            rows.append({**base, "state": "no_access_found", "sla": "met",
                         "note": "no account, credential or grant linked in any scan of the period"})
    return rows


def _neutral(value: Any) -> str:
    """Spreadsheet-safe cell: no formula, no NUL."""
    s = ("" if value is None else str(value)).replace("\x00", "")
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def render_csv(ev: Evidence) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in csv_rows(ev):
        w.writerow({k: _neutral(row.get(k, "")) for k in CSV_COLUMNS})
    return buf.getvalue()


def render_json(ev: Evidence) -> str:
    return json.dumps(ev.to_dict(), indent=2, sort_keys=True) + "\n"


def render_md(ev: Evidence) -> str:
    s = ev.summary()
    out = [f"# Offboarding evidence {ev.period_from} to {ev.period_to}", "",
           f"Removal SLA: {ev.sla_hours} h from termination. Leavers: {s['leavers']} "
           f"(met {s['met']}, breached {s['breached']}, open {s['open']}, "
           f"not evidenced {s['not_evidenced']}).", "",
           "Controls: " + ", ".join(code(c) for c in ev.controls), "",
           "| leaver | terminated | SLA | items | open | used after termination | gaps |",
           "|---|---|---|---|---|---|---|"]
    for lv in ev.population:
        open_n = sum(1 for i in lv.items if i.state in ("open", "would_come_back"))
        out.append(f"| {code(lv.id)} | {_t(lv.terminated_at)} | {lv.sla} | {len(lv.items)} | "
                   f"{open_n} | {len(lv.used_after_termination)} | {len(lv.gaps)} |")
    for lv in ev.population:
        out += ["", f"## {md_escape(lv.name or lv.id)} ({code(lv.id)})", "",
                f"Terminated {_t(lv.terminated_at)}; notified {_t(lv.notified_at) or '–'}; "
                f"SLA {lv.sla}.", ""]
        if lv.items:
            out += ["| item | layer | first seen | last live | state | removed at | basis | h |",
                    "|---|---|---|---|---|---|---|---|"]
            for i in lv.items:
                h = "–" if i.hours_from_termination is None else f"{i.hours_from_termination:.1f}"
                out.append(f"| {code(i.kind + ' ' + i.name + (' ' + i.handle if i.handle else ''))} | {i.layer} | {_t(i.first_seen)} | "
                           f"{_t(i.last_seen_live) or '–'} | {i.state} | {_t(i.removal_at) or '–'} | "
                           f"{i.removal_basis or '–'} | {h} |")
        for u in lv.used_after_termination:
            out.append(f"- used after termination: {code(u.get('rule') or u.get('action'))} "
                       f"{code(u.get('object') or u.get('item'))} {code(u.get('id') or u.get('finding'))}")
        for x in lv.exceptions:
            out.append(f"- exception: {code(x['rule'])} approved by {md_escape(x['approver'])}, "
                       f"reason {md_escape(x['reason'])}, expires {md_escape(x['expires'])}")
        for g in lv.gaps:
            out.append(f"- not evidenced: layer {code(g['layer'])} was {g['verdict']} in "
                       f"{code(g['scan'])}")
    out += ["", "## Scans drawn on", "", "| scan | time | status | tool | config digest |",
            "|---|---|---|---|---|"]
    for sc in ev.scans:
        out.append(f"| {code(sc.id)} | {_t(sc.at)} | {sc.status} | {code(sc.tool_version)} | "
                   f"{code(sc.config_digest[:16])} |")
    return "\n".join(out) + "\n"


def _timeline(item: Any, lo: datetime, hi: datetime, term: datetime | None) -> dict[str, Any]:
    """Positions (0-100) of an item's bar on the period's scale, for the inline SVG."""
    span = max((hi - lo).total_seconds(), 1.0)

    def x(t: datetime | None) -> float | None:
        return None if t is None else round(max(0.0, min(100.0, (t - lo).total_seconds() / span * 100)), 2)

    end = item.removal_at or (hi if item.state in ("open", "would_come_back") else item.last_seen_live)
    return {"start": x(item.first_seen), "end": x(end), "term": x(term),
            "removed": x(item.removal_at)}


def render_html(ev: Evidence) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["j2", "html"], default=True))
    lo = ev.scans[0].at if ev.scans else ev.generated_at
    hi = ev.scans[-1].at if ev.scans else ev.generated_at
    times = [t for lv in ev.population for t in [lv.terminated_at] if t]
    lo = min([lo, *times])
    views = [{"lv": lv, "bars": [(_timeline(i, lo, hi, lv.terminated_at), i) for i in lv.items]}
             for lv in ev.population]
    return env.get_template("evidence.html.j2").render(ev=ev, views=views, summary=ev.summary(),
                                                       t=_t, lo=lo, hi=hi)


RENDER = {"html": render_html, "csv": render_csv, "json": render_json, "md": render_md}


def render_with_manifest(ev: Evidence, fmt: str, inventory_path: str) -> tuple[str, str | None]:
    """The report text and, for CSV, the sidecar manifest (a CSV must stay one table)."""
    body = RENDER[fmt](ev)
    m = manifest(body.encode("utf-8"), ev, inventory_path)
    text = json.dumps(m, indent=2, sort_keys=True)
    if fmt == "csv":
        return body, text + "\n"
    if fmt == "json":  # JSON cannot carry a trailer: the manifest covers the evidence object
        doc = json.loads(body)
        m["report_sha256"] = hashlib.sha256(_canonical(doc).encode()).hexdigest()
        return json.dumps({"evidence": doc, "manifest": m}, indent=2, sort_keys=True) + "\n", None
    return body + f"<!-- {MANIFEST_MARK}\n{text}\n-->\n", None


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify_file(path: Path) -> tuple[bool, str]:
    """Re-check a report against its manifest: (ok, one line saying why)."""
    data = path.read_bytes()
    sidecar = path.with_name(path.name + ".manifest.json")
    marker = f"<!-- {MANIFEST_MARK}\n".encode()
    try:
        if marker in data:
            body, _, tail = data.rpartition(marker)
            m = json.loads(tail.rsplit(b"\n-->", 1)[0])
            got = hashlib.sha256(body).hexdigest()
        elif data.lstrip().startswith(b"{"):
            doc = json.loads(data)
            m = doc["manifest"]
            got = hashlib.sha256(_canonical(doc["evidence"]).encode()).hexdigest()
        elif sidecar.exists():
            m = json.loads(sidecar.read_text())
            got = hashlib.sha256(data).hexdigest()
        else:
            return False, f"{path.name}: no manifest (inline, or {sidecar.name} beside it)"
    except (ValueError, KeyError, TypeError):
        return False, f"{path.name}: the manifest cannot be read"
    if got != m.get("report_sha256"):
        return False, f"{path.name}: SHA-256 {got[:16]}… does not match the manifest: changed"
    return True, f"{path.name}: matches its manifest (sha256 {got[:16]}…, {len(m.get('inputs', []))} scans)"

"""Markdown for tickets: one leaver per section, a task list of what to remove, with the
evidence an engineer needs to act, and what could not be checked.

Values from the estate are escaped: prose through ``md_escape`` (Markdown punctuation
backslash-escaped, ``<``/``>``/``&`` as entities, so a name like ``<img onerror=...>``
stays text in GitHub, GitLab and Jira renderers), identifiers in code spans sized to the
backticks they contain.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from reports import renderer
from reports.data import (
    build_report, configured_layers, not_run_layers, scan_scope_note, severity_counts,
)
from reports.diff import diff_against_previous
from scanner.core.model import LAYERS
from scanner.core.terminal import printable

# Values never start a line here (each is preceded by a list marker or a label), so only
# the characters that act mid-line need escaping.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: Any) -> str:
    s = "" if text is None else str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return " ".join(s.split())  # no newline can start a new block


def code(text: Any) -> str:
    """An inline code span that survives backticks and newlines in the value."""
    s = " ".join(printable("" if text is None else str(text), keep_newlines=True).split())
    if not s:
        return "–"
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _finding_item(f: dict[str, Any]) -> list[str]:
    obj = f["object"]
    done = "x" if f["status"] == "waived" else " "
    line = (f"- [{done}] **{f['severity']}** {md_escape(f['title'])}: {md_escape(obj['kind'])} "
            f"{code(obj['name'] or obj['id'])}")
    if obj["name"] and obj["id"] and obj["name"] != obj["id"]:
        line += f" ({code(obj['id'])})"
    out = [line]
    if f["location"]:
        loc = f["location"]["path"] + (f":{f['location']['line']}" if f["location"].get("line") else "")
        out.append(f"  - location: {code(loc)}")
    out.append(f"  - remediation: {md_escape(f['remediation'])}")
    ev = {k: v for k, v in (f["evidence"] or {}).items() if k not in ("waiver", "expired_waiver") and v not in (None, "", [])}
    if ev:
        out.append("  - evidence: " + "; ".join(f"{md_escape(k)} {code(v)}" for k, v in sorted(ev.items())))
    out.append(f"  - path: {' → '.join(code(n) for n in f['path'])}")
    if f["status"] == "waived":
        w = f["evidence"]["waiver"]
        out.append(f"  - **waived** by {md_escape(w['approver'])} until {w['expires']}: {md_escape(w['reason'])}")
    if (f["evidence"] or {}).get("expired_waiver"):
        w = f["evidence"]["expired_waiver"]
        out.append(f"  - waiver **expired** {w['expires']} (was: {md_escape(w['reason'])})")
    out.append(f"  - rule {code(f['rule'])}, {', '.join(code(x) for x in f['frameworks']) or 'no framework'}, "
               f"fingerprint {code(f['fingerprint'][:12])}, {f['status']}")
    return out


@renderer("md")
def render_markdown(inv, scan_id: str, given: Any = None) -> str:
    report = build_report(inv, scan_id)
    scan = report["scan"]
    lines = [f"# Residual access: scan {code(scan['id'])}", "",
             f"Started {scan['started_at']}, finished {scan['finished_at'] or 'not finished'}, "
             f"status **{scan['status']}**, residual {md_escape(scan['tool_version'])}.", ""]
    sev = severity_counts(report["findings"])
    lines.append("Open findings: " + (", ".join(f"{n} {s}" for s, n in sev.items() if n) or "none")
                 + f"; waived: {sum(1 for f in report['findings'] if f['status'] == 'waived')}.")
    diff = diff_against_previous(inv, scan_id)
    if diff:
        lines.append(f"Since scan {code(diff['from'])}: {len(diff['new'])} new, "
                     f"{len(diff['resolved'])} resolved, {len(diff['persisting'])} persisting.")
    lines.append("")
    note = scan_scope_note(report)
    if note:
        lines += [f"**{note}**", ""]
    weak = [c for c in report["coverage"] if c["status"] in ("failed", "partial")]
    missing = [l for l in LAYERS if l not in configured_layers(report)]
    skipped = not_run_layers(report)
    if weak or missing or skipped:
        lines += ["## Not verified", ""]
        for c in weak:
            lines.append(f"- **{c['status']}**: {md_escape(c['collector'])} {code(c['target'])} "
                         f"({c['layer']}): {code(c['error']) if c['error'] else 'no detail'}")
        for l in skipped:
            lines.append(f"- **not run**: layer {l} is configured, but this partial scan did not run it")
        for l in missing:
            lines.append(f"- **not configured**: layer {l} was not checked at all")
        lines.append("")
    by_ident: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for f in report["findings"]:
        by_ident[f["identity"]].append(f)
    for ident in report["identities"]:
        lines += [f"## {md_escape(ident['id'])}: {ident['verdict'].replace('_', ' ')}", "",
                  f"{ident['status']}" + (f" since {ident['terminated_at'][:10]}" if ident.get("terminated_at") else ""),
                  "", "| layer | verdict |", "|---|---|"]
        lines += [f"| {l} | {v.replace('_', ' ')} |" for l, v in ident["layers"].items()]
        lines.append("")
        for f in by_ident.pop(ident["id"], []):
            lines += _finding_item(f)
        lines.append("")
    rest = sorted(by_ident.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    for ident_id, items in rest:
        lines += [f"## {md_escape(ident_id) if ident_id else 'No owner (unowned or orphaned)'}", ""]
        for f in items:
            lines += _finding_item(f)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


@renderer("markdown")
def render_markdown_alias(inv, scan_id: str, given: Any = None) -> str:
    return render_markdown(inv, scan_id, given)

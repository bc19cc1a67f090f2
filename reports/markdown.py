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

from reports import renderer, splitter
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


def _head_lines(report: dict[str, Any], diff: dict[str, Any] | None) -> list[str]:
    scan = report["scan"]
    lines = [f"# Residual access: scan {code(scan['id'])}", "",
             f"Started {scan['started_at']}, finished {scan['finished_at'] or 'not finished'}, "
             f"status **{scan['status']}**, residual {md_escape(scan['tool_version'])}.", ""]
    sev = severity_counts(report["findings"])
    lines.append("Open findings: " + (", ".join(f"{n} {s}" for s, n in sev.items() if n) or "none")
                 + f"; waived: {sum(1 for f in report['findings'] if f['status'] == 'waived')}.")
    if diff:
        lines.append(f"Since scan {code(diff['from'])}: {len(diff['new'])} new, "
                     f"{len(diff['resolved'])} resolved, {len(diff['persisting'])} persisting.")
    lines.append("")
    note = scan_scope_note(report)
    if note:
        lines += [f"**{note}**", ""]
    return lines


def _not_verified_lines(report: dict[str, Any]) -> list[str]:
    weak = [c for c in report["coverage"] if c["status"] in ("failed", "partial")]
    missing = [l for l in LAYERS if l not in configured_layers(report)]
    skipped = not_run_layers(report)
    if not (weak or missing or skipped):
        return []
    lines = ["## Not verified", ""]
    for c in weak:
        lines.append(f"- **{c['status']}**: {md_escape(c['collector'])} {code(c['target'])} "
                     f"({c['layer']}): {code(c['error']) if c['error'] else 'no detail'}")
    for l in skipped:
        lines.append(f"- **not run**: layer {l} is configured, but this partial scan did not run it")
    for l in missing:
        lines.append(f"- **not configured**: layer {l} was not checked at all")
    return lines + [""]


def _leaver_head(ident: dict[str, Any], level: str = "##") -> list[str]:
    lines = [f"{level} {md_escape(ident['id'])}: {ident['verdict'].replace('_', ' ')}", "",
             f"{ident['status']}" + (f" since {ident['terminated_at'][:10]}" if ident.get("terminated_at") else ""),
             "", "| layer | verdict |", "|---|---|"]
    lines += [f"| {l} | {v.replace('_', ' ')} |" for l, v in ident["layers"].items()]
    return lines + [""]


def _by_identity(report: dict[str, Any]) -> tuple[dict[str | None, list[dict[str, Any]]],
                                                  list[tuple[str | None, list[dict[str, Any]]]]]:
    """Findings of each leaver (report order), and the rest by identity (unowned last)."""
    by_ident: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for f in report["findings"]:
        by_ident[f["identity"]].append(f)
    leavers = {i["id"]: by_ident.pop(i["id"], []) for i in report["identities"]}
    rest = sorted(by_ident.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    return leavers, rest


def _rest_title(ident_id: str | None, level: str = "##") -> str:
    return f"{level} {md_escape(ident_id) if ident_id else 'No owner (unowned or orphaned)'}"


@renderer("md")
def render_markdown(inv, scan_id: str, given: Any = None) -> str:
    report = build_report(inv, scan_id)
    lines = _head_lines(report, diff_against_previous(inv, scan_id)) + _not_verified_lines(report)
    leavers, rest = _by_identity(report)
    for ident in report["identities"]:
        lines += _leaver_head(ident)
        for f in leavers[ident["id"]]:
            lines += _finding_item(f)
        lines.append("")
    for ident_id, items in rest:
        lines += [_rest_title(ident_id), ""]
        for f in items:
            lines += _finding_item(f)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# GitHub's limit on an issue (or comment) body, in characters; GitLab's and Jira's are
# larger. Every file of a split report stays under it, so each can be pasted as it is.
BODY_LIMIT = 65_536
_CUT = "\n  - *(cut here: this entry is longer than a ticket can hold; the JSON report has it whole)*"


def _file_stem(n: int, ident_id: str) -> str:
    """``0001-alice-example.com``: the number keeps names unique and ordered, whatever
    the identity's id holds (no path separator, no leading dot, bounded length)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ident_id).strip("-.")[:80] or "identity"
    return f"{n:04d}-{slug}"


Block = tuple[list[str], list[str]]  # (its lines, the lines it needs above it atop a part)


def _pages(stem: str, head: list[str], blocks: list[Block], limit: int) -> dict[str, str]:
    """``head`` then ``blocks`` packed into files of under ``limit`` characters:
    ``stem.md``, and ``stem.part2.md``... when one file cannot hold them. Each part
    repeats the head and says which part it is; a block that starts a part gets its
    context first (a table's header row); a block longer than a file is cut with a note."""
    head_text = "\n".join(head)
    longest_name = len(stem) + len(".part9999.md")
    note_room = len("*Part 9999 of 9999: [](), the first, to [](), the last*\n\n") + 4 * longest_name
    context_room = max((len("\n".join(c)) + 1 for _, c in blocks), default=0)
    room = limit - 1 - len(head_text) - 1 - note_room - context_room - 2
    if room < 1000:
        raise ValueError(f"{stem}: a head of {len(head_text)} characters leaves no room")
    parts: list[list[str]] = [[]]
    size = 0
    for lines, context in blocks:
        text = "\n".join(lines)
        if len(text) > room:
            text = text[:room - len(_CUT)] + _CUT
        if parts[-1] and size + len(text) + 1 > room:
            parts.append(["\n".join(context)] if context else [])
            size = 0
        parts[-1].append(text)
        size += len(text) + 1
    names = [f"{stem}.md" if i == 1 else f"{stem}.part{i}.md" for i in range(1, len(parts) + 1)]
    out = {}
    for i, (name, part) in enumerate(zip(names, parts), 1):
        note = [f"*Part {i} of {len(parts)}: [{names[0]}]({names[0]}), the first, to "
                f"[{names[-1]}]({names[-1]}), the last*", ""] if len(parts) > 1 else []
        body = "\n".join([head_text, *note, *part]).rstrip() + "\n"
        if len(body) >= limit:  # the sums above rule it out; never write one that breaks
            raise AssertionError(f"{name}: {len(body)} characters")
        out[name] = body
    return out


def _link_list(names: list[str]) -> str:
    return ", ".join(f"[{n}]({n})" for n in names)


@splitter("md")
def split_markdown(inv, scan_id: str, given: Any = None, split: str = "per-leaver",
                   limit: int = BODY_LIMIT) -> dict[str, str]:
    """The Markdown report as files for tickets: ``index.md`` (the scan, what was not
    verified, a table of the leavers with their files), one file per leaver (its
    verdicts and findings, as the single report shows them) and ``others.md`` (findings
    of identities that are not leavers, and of no one). Every file is under ``limit``
    characters; what does not fit goes on in ``.partN.md`` files."""
    if split != "per-leaver":
        raise ValueError(f"split {split!r}: unknown (known: per-leaver)")
    report = build_report(inv, scan_id)
    scan_line = f"Scan {code(report['scan']['id'])}; the whole report's index: [index.md](index.md)."
    note = scan_scope_note(report)
    leavers, rest = _by_identity(report)
    files: dict[str, str] = {}
    rows: list[str] = []
    for n, ident in enumerate(report["identities"], 1):
        found = leavers[ident["id"]]
        head = _leaver_head(ident, "#") + [scan_line, ""] + ([f"**{note}**", ""] if note else [])
        if not found:
            head.append("No findings.")
        parts = _pages(_file_stem(n, ident["id"]), head, [(_finding_item(f), []) for f in found], limit)
        files.update(parts)
        open_n = sum(1 for f in found if f["status"] != "waived")
        rows.append(f"| {md_escape(ident['id'])} | {ident['verdict'].replace('_', ' ')} | {open_n} | "
                    f"{len(found) - open_n} | {_link_list(list(parts))} |")
    if rest:
        blocks = [((["", _rest_title(i), ""] if k == 0 else []) + _finding_item(f),
                   [_rest_title(i) + " (continued)", ""])
                  for i, items in rest for k, f in enumerate(items)]
        parts = _pages("others", ["# Findings of no leaver", "", scan_line, ""], blocks, limit)
        files.update(parts)
        every = [f for _, items in rest for f in items]
        waived = sum(1 for f in every if f["status"] == "waived")
        rows.append(f"| *not leavers, or no owner* | – | {len(every) - waived} | {waived} | "
                    f"{_link_list(list(parts))} |")
    head = _head_lines(report, diff_against_previous(inv, scan_id))
    blocks = [([l], ["## Not verified (continued)", ""]) for l in _not_verified_lines(report)]
    table = ["| leaver | verdict | open | waived | file |", "|---|---|---|---|---|"]
    blocks += [((["## Leavers", "", *table] if i == 0 else []) + [row], ["## Leavers (continued)", "", *table])
               for i, row in enumerate(rows)]
    if not rows:
        blocks.append((["## Leavers", "", "No leavers in this scan."], []))
    return {**_pages("index", head, blocks, limit), **files}


@renderer("markdown")
def render_markdown_alias(inv, scan_id: str, given: Any = None) -> str:
    return render_markdown(inv, scan_id, given)


@splitter("markdown")
def split_markdown_alias(inv, scan_id: str, given: Any = None, split: str = "per-leaver") -> dict[str, str]:
    return split_markdown(inv, scan_id, given, split)

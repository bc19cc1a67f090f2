"""The HTML report: one self-contained file for auditors.

Why it is built this way:
- It is handed over, read offline and printed, so everything (CSS, the small filter
  script, the SVG charts, the report's data) is inline and nothing is fetched: a strict
  Content-Security-Policy (``default-src 'none'``) with hashes of the one inline style
  and the one inline script makes that a property the browser enforces, not a promise.
- Every value from the estate (repository names, file paths, logins) is hostile until
  escaped: Jinja2 autoescaping is on, and the JSON embedded for machines has ``<``,
  ``>`` and ``&`` escaped so that ``</script>`` in a value cannot close the element.
- It must never let "nothing found" read as "checked": layers no collector covers are
  said plainly, and failed or partial coverage is shown next to every verdict it weakens.
- The page reads with JavaScript off (filters only hide things) and prints everything.

- It must open on a large estate (150k findings at 10k people): every leaver's checklist,
  every high/critical finding and every finding attributed to a leaver are shown in
  full; of the hygiene tail, the first N of each rule (50, ``RESIDUAL_HTML_TAIL_LIMIT``),
  and the page says how many it left out and that the JSON/CSV/SARIF reports hold them.
  Counts are SQL aggregates; the findings are streamed from DuckDB into Jinja2's
  ``generate()``, so memory follows the page, not the estate. The data digest is over
  the full report data (the JSON report's), computed while streaming.

Like every renderer it only reads the inventory: the residual/report/v1 data (its head,
and its findings streamed) plus the scan history, the credentials table (age histogram)
and the previous scan's findings (the diff).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reports import ReportInput, charts, renderer, streamer
from reports.data import (
    SEVERITY_ORDER_SQL, canonical_json, configured_layers, credential_ages, finding_dict, history,
    iter_findings, not_run_layers, report_head, scan_now, scan_scope_note, streamed_digest,
)
from rules.base import all_rules
from scanner.core.model import LAYERS, SEVERITIES, Identity
from scanner.core.timeparse import json_default

TEMPLATES = Path(__file__).parent / "templates"

LAYER_TITLES = {
    "directory": "Directory (roster, Okta, SCIM)", "cloud": "Cloud (AWS IAM and friends)",
    "code-hosting": "Code hosting (GitHub, GitLab)", "ci-cd": "CI/CD secrets and variables",
    "kubernetes": "Kubernetes", "iac": "Infrastructure as code", "saas": "SaaS applications",
    "sessions": "Sessions and use after termination", "secrets": "Secrets managers (Vault)",
}
VERDICT_TEXT = {"clean": "clean", "residual": "residual access", "incomplete": "incomplete",
                "not_configured": "not configured", "not_run": "not run"}


def anchor(text: Any) -> str:
    """An HTML id (and its ``#`` link) from a value such as a rule id: letters, digits,
    ``-`` and ``_`` only. A dot or colon in an id is valid HTML but breaks CSS selectors
    (``#rule-aws.key`` means id "rule-aws" with class "key") and some anchor tools."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(text))


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["j2", "html"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["node_parts"] = node_parts
    env.filters["anchor"] = anchor
    env.filters["evidence_value"] = evidence_value
    env.filters["when"] = when
    return env


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def json_for_script(data: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">``: the characters that
    could end the element or start markup are \\u-escaped (still the same JSON value)."""
    text = canonical_json(data)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)  # noqa: S704 - escaped above for this context


def node_parts(node: str) -> tuple[str, str]:
    """``account:aws:123|arn:...`` -> ("account", "aws:123 · arn:...") for display."""
    kind, _, rest = node.partition(":")
    return kind, rest.replace("|", " · ")


_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2}(\.\d+)?)?(\+00:00|Z)$")


def when(value: Any) -> str:
    """An ISO UTC timestamp as ``2026-11-21 12:00 UTC`` (other values unchanged)."""
    m = _ISO_UTC.match(str(value)) if value else None
    return f"{m.group(1)} {m.group(2)} UTC" if m else ("" if value is None else str(value))


def evidence_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return when(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if value else "none"
    return json.dumps(value, sort_keys=True, default=json_default)


DEFAULT_TAIL_LIMIT = 50
TAIL_LIMIT_ENV = "RESIDUAL_HTML_TAIL_LIMIT"


def tail_limit(value: int | None = None) -> int:
    """How many findings of each rule's long tail the page shows in full: the argument,
    else ``RESIDUAL_HTML_TAIL_LIMIT``, else 50."""
    if value is None:
        raw = os.environ.get(TAIL_LIMIT_ENV, "").strip()
        value = int(raw) if raw.isdigit() else DEFAULT_TAIL_LIMIT
    return max(0, int(value))


# A finding is shown in full, whatever the size of the estate, when it is high or
# critical or names a leaver (terminated or suspended identity); the rest (hygiene: low and
# medium findings of active or unowned identities) is the "tail", of which each rule shows
# its first ``limit`` (report order) and counts the others.
_LEAVERS_SQL = ("SELECT id FROM identities WHERE scan_id = ? "
                "AND status IN ('terminated', 'suspended')")
_DETAILED_SQL = f"(severity IN ('high', 'critical') OR coalesce(identity IN ({_LEAVERS_SQL}), false))"


def _ranked_sql(table_filter: str) -> str:
    """Findings (of one scan, filtered) with ``detailed`` and their rank in their rule's
    tail (``rn``), for the page's selection."""
    return (f"SELECT fingerprint, rule, severity, layer, identity, status, "
            f"{_DETAILED_SQL} AS detailed, row_number() OVER (PARTITION BY rule, {_DETAILED_SQL} "
            f"ORDER BY {SEVERITY_ORDER_SQL}, fingerprint) AS rn FROM findings WHERE {table_filter}")


def _rule_stats(inv, scan_id: str, limit: int) -> list[dict[str, Any]]:
    """Per rule and layer, in SQL: how many findings, how many in full on the page,
    how many left out (only ever from the tail)."""
    rows = inv.query(
        f"WITH r AS ({_ranked_sql('scan_id = ?')}) "
        "SELECT rule, layer, min(" + SEVERITY_ORDER_SQL + ") AS sev, count(*), "
        "count(*) FILTER (WHERE detailed), count(*) FILTER (WHERE NOT detailed AND rn <= ?), "
        "count(*) FILTER (WHERE NOT detailed AND rn > ?), count(*) FILTER (WHERE status = 'waived') "
        "FROM r GROUP BY rule, layer ORDER BY sev, rule, layer",
        [scan_id, scan_id, scan_id, limit, limit])
    sev_names = list(reversed(SEVERITIES))
    return [{"rule": rule, "layer": layer, "severity": sev_names[sev] if sev < len(sev_names) else "info",
             "total": int(total), "detailed": int(det), "sampled": int(shown), "left_out": int(left),
             "waived": int(waived)} for rule, layer, sev, total, det, shown, left, waived in rows]


def _page_findings(inv, scan_id: str, limit: int, previous: str | None, rules_meta: dict[str, Any],
                   stats: dict[str, dict[str, int]], seen: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The groups of the findings section, streamed from DuckDB: one group per rule (most
    severe rule first), its findings generated lazily in report order. The fingerprints
    shown, waived findings and those with an expired waiver are noted in ``seen`` on the
    way, for the sections after (links only to what is on the page)."""
    where = (f"fingerprint IN (SELECT fingerprint FROM ({_ranked_sql('scan_id = ?')}) "
             "WHERE detailed OR rn <= ?)")
    extra = ("fingerprint IN (SELECT fingerprint FROM findings WHERE scan_id = ?)"
             if previous else "NULL")
    group_sev = SEVERITY_ORDER_SQL.replace("severity", "g.severity")
    order = (f"(SELECT min({group_sev}) FROM findings AS g WHERE g.scan_id = f.scan_id "
             "AND g.rule = f.rule), rule")
    rows = iter_findings(inv, scan_id, where, [scan_id, scan_id, scan_id, limit], extra=extra,
                         order=order, extra_params=[previous] if previous else [])
    for rule_id, items in itertools.groupby(rows, key=lambda fx: fx[0].rule):
        meta = rules_meta.get(rule_id)
        st = stats.get(rule_id, {})
        yield {"rule": rule_id, "severity": st.get("severity", "info"),
               "title": meta.title if meta else rule_id,
               "description": meta.description if meta else "",
               "remediation": meta.remediation if meta else "",
               "frameworks": list(meta.frameworks) if meta else [],
               "total": st.get("total", 0), "left_out": st.get("left_out", 0),
               "findings": _finding_views(items, previous, seen)}


def _finding_views(items, previous: str | None, seen: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for f, in_previous in items:
        d = finding_dict(f)
        d["_change"] = ("persisting" if in_previous else "new") if previous else "first scan"
        seen["shown"].add(d["fingerprint"])
        if d["status"] == "waived":
            seen["waived"].append(_slim(d))
        elif (d["evidence"] or {}).get("expired_waiver"):
            seen["expired"].append(_slim(d))
        yield d


def _slim(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("fingerprint", "title", "identity", "evidence", "status")}


def _checklist(inv, scan_id: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per leaver, per layer: the verdict and the evidence behind it (all of a leaver's
    findings, from a light SQL projection, however big the estate)."""
    ids = [r["id"] for r in report["identities"]]
    idents = {i.id: i for i in inv.iter(Identity, scan_id, "id IN (SELECT DISTINCT identity "
                                        "FROM verdicts WHERE scan_id = ?)", [scan_id])}
    cov_by_layer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in report["coverage"]:
        cov_by_layer[c["layer"]].append(c)
    by_ident_layer: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for fp, sev, title, layer, ident, kind, oid, oname, status in inv.query(
                "SELECT fingerprint, severity, title, layer, identity, object_kind, object_id, "
                "object_name, status FROM findings WHERE scan_id = ? AND identity IN "
                "(SELECT DISTINCT identity FROM verdicts WHERE scan_id = ?) "
                f"ORDER BY {SEVERITY_ORDER_SQL}, rule, fingerprint", [scan_id, scan_id]):
            by_ident_layer[(ident, layer)].append({
                "fingerprint": fp, "severity": sev, "title": title, "status": status,
                "object": {"kind": kind, "id": oid, "name": oname}})
    out = []
    for row in report["identities"]:
        ident = idents.get(row["id"])
        layers = []
        for layer in LAYERS:
            verdict = row["layers"].get(layer, "not_configured")
            found = by_ident_layer.get((row["id"], layer), [])
            layers.append({
                "layer": layer, "title": LAYER_TITLES.get(layer, layer), "verdict": verdict,
                "findings": [f for f in found if f["status"] != "waived"],
                "waived": [f for f in found if f["status"] == "waived"],
                "weak": [c for c in cov_by_layer.get(layer, []) if c["status"] in ("failed", "partial")],
                "checked": [c for c in cov_by_layer.get(layer, []) if c["status"] == "ok"],
                "skipped": [c for c in cov_by_layer.get(layer, []) if c["status"] == "skipped"],
            })
        out.append({**row, "name": ident.name if ident else "", "kind": ident.kind if ident else "",
                    "owner": ident.owner if ident else None, "layers_detail": layers})
    order = {"residual": 0, "incomplete": 1, "clean": 2, "not_configured": 3}
    return sorted(out, key=lambda r: (order.get(r["verdict"], 9), r["id"]))


def _diff_view(inv, scan_id: str, previous: str | None, limit: int) -> dict[str, Any] | None:
    """Changes since the previous finished scan, counted in SQL. New and resolved rows
    are listed like the findings (every high/critical or leaver one, plus the first
    ``limit`` of each rule's tail); persisting ones: the first ``limit`` rows."""
    if not previous:
        return None
    sides = {"new": (scan_id, previous), "resolved": (previous, scan_id),
             "persisting": (scan_id, None)}
    out: dict[str, Any] = {"from": previous, "to": scan_id, "counts": {}, "left_out": {}}
    for kind, (a, b) in sides.items():
        cond = ("scan_id = ? AND fingerprint NOT IN (SELECT fingerprint FROM findings WHERE scan_id = ?)"
                if b else "scan_id = ? AND fingerprint IN (SELECT fingerprint FROM findings WHERE scan_id = ?)")
        other = b or previous
        total = int(inv.query(f"SELECT count(*) FROM findings WHERE {cond}", [a, other])[0][0])
        if kind == "persisting":
            pick, pparams = "rn2 <= ?", [limit]
        else:
            pick, pparams = "detailed OR rn <= ?", [limit]
        rows = inv.query(
            f"WITH r AS ({_ranked_sql(cond)}), s AS (SELECT *, row_number() OVER "
            f"(ORDER BY {SEVERITY_ORDER_SQL}, rule, fingerprint) AS rn2 FROM r) "
            "SELECT f.fingerprint, f.rule, f.severity, f.identity, f.title, f.object_kind, "
            "f.object_id, f.object_name, f.layer, f.status FROM s JOIN findings f "
            f"ON f.fingerprint = s.fingerprint AND f.scan_id = ? WHERE {pick} "
            f"ORDER BY {SEVERITY_ORDER_SQL.replace('severity', 'f.severity')}, f.rule, f.fingerprint",
            [scan_id, scan_id, a, other, a, *pparams])
        out[kind] = [{"fingerprint": fp, "rule": rule, "severity": sev, "identity": ident,
                      "title": title, "object": f"{kind_} {name or oid}".strip(), "layer": layer,
                      "status": status}
                     for fp, rule, sev, ident, title, kind_, oid, name, layer, status in rows]
        out["counts"][kind] = total
        out["left_out"][kind] = total - len(out[kind])
    return out


def _config_view(given: ReportInput | None, scan_digest: str | None) -> dict[str, Any]:
    """The configuration the auditor can read: redacted, and only if it is the one the
    scan ran with (same redacted digest); otherwise just say it changed."""
    if given is None or given.config_digest is None:
        return {"matches": None, "text": ""}
    matches = bool(scan_digest) and given.config_digest == scan_digest
    return {"matches": matches, "text": given.config_text if matches else ""}


def build_view(inv, scan_id: str, given: ReportInput | None = None, limit: int | None = None) -> dict[str, Any]:
    """Everything the template needs, with every count computed in SQL and the findings
    left as a stream (``groups``): memory follows what the page shows, not the estate."""

    limit = tail_limit(limit)
    report = report_head(inv, scan_id)
    now = scan_now(inv, scan_id)
    rules_meta = {rid: r.meta for rid, r in all_rules().items()}
    previous = inv.previous_scan_id(scan_id)
    configured = configured_layers(report)

    sev_rows = inv.query("SELECT severity, status = 'waived', count(*) FROM findings "
                         "WHERE scan_id = ? GROUP BY ALL", [scan_id])
    sev = {s: 0 for s in reversed(SEVERITIES)}
    sev_all = {s: 0 for s in reversed(SEVERITIES)}
    for s, waived, n in sev_rows:
        sev_all[s] = sev_all.get(s, 0) + int(n)
        if not waived:
            sev[s] = sev.get(s, 0) + int(n)
    by_layer: dict[str, dict[str, int]] = {}
    for layer, s, n in inv.query("SELECT layer, severity, count(*) FROM findings WHERE scan_id = ? "
                                 "AND status <> 'waived' GROUP BY ALL", [scan_id]):
        by_layer.setdefault(layer, {x: 0 for x in reversed(SEVERITIES)})[s] += int(n)
    stats_rows = _rule_stats(inv, scan_id, limit)
    stats: dict[str, dict[str, Any]] = {}
    for r in stats_rows:
        st = stats.setdefault(r["rule"], {"total": 0, "left_out": 0, "severity": r["severity"]})
        st["total"] += r["total"]
        st["left_out"] += r["left_out"]
    total = sum(sev_all.values())
    left_out = sum(r["left_out"] for r in stats_rows)
    shown = total - left_out
    tail_rules = [r for r in stats_rows if r["sampled"] or r["left_out"]]
    waived_total, expired_total = (int(x) for x in inv.query(
        "SELECT count(*) FILTER (WHERE status = 'waived'), count(*) FILTER (WHERE status <> 'waived' "
        "AND evidence LIKE '%\"expired_waiver\"%') FROM findings WHERE scan_id = ?", [scan_id])[0])

    verdicts = {v: 0 for v in ("residual", "incomplete", "clean", "not_configured")}
    for ident in report["identities"]:
        verdicts[ident["verdict"]] = verdicts.get(ident["verdict"], 0) + 1
    ages = credential_ages(inv, scan_id, now)
    hist = history(inv, scan_id)
    digest, _ = streamed_digest(inv, scan_id, report)
    complete = left_out == 0
    if complete:  # small estate: the embedded data is the whole report data, as ever
        report["findings"] = [finding_dict(f) for f, _ in iter_findings(inv, scan_id)]
    cov_counts = {s: sum(1 for c in report["coverage"] if c["status"] == s)
                  for s in ("ok", "partial", "failed", "skipped")}
    seen: dict[str, Any] = {"waived": [], "expired": [], "shown": set()}
    page_filter = (f"scan_id = ? AND fingerprint IN (SELECT fingerprint FROM ({_ranked_sql('scan_id = ?')}) "
                   "WHERE detailed OR rn <= ?)")
    identities_on_page = [r[0] for r in inv.query(
        f"SELECT DISTINCT identity FROM findings WHERE {page_filter} AND identity IS NOT NULL "
        "ORDER BY 1", [scan_id, scan_id, scan_id, scan_id, limit])]
    layers_on_page = {r[0] for r in inv.query(
        f"SELECT DISTINCT layer FROM findings WHERE {page_filter}", [scan_id, scan_id, scan_id, scan_id, limit])}
    return {
        "report": report, "scan": report["scan"], "now": now.isoformat(),
        "digest": digest, "data_json": json_for_script(report), "data_complete": complete,
        # a page that leaves findings out is a large one: what every finding of a rule
        # shares (remediation, frameworks) is then written once, in the rule's header
        "compact": not complete,
        "checklist": _checklist(inv, scan_id, report),
        "groups": _page_findings(inv, scan_id, limit, previous, rules_meta, stats, seen),
        "seen": seen, "waived_total": waived_total, "expired_total": expired_total,
        "findings_total": total, "findings_shown": shown, "findings_left_out": left_out,
        "tail_limit": limit, "tail_rules": tail_rules, "severity_all": sev_all,
        "diff": _diff_view(inv, scan_id, previous, limit), "history": hist, "ages": ages,
        "severity_counts": sev, "by_layer": by_layer, "verdicts": verdicts,
        "coverage_counts": cov_counts,
        "layers": LAYERS, "layer_titles": LAYER_TITLES, "configured": configured,
        "not_configured": [l for l in LAYERS if l not in configured],
        "not_run": not_run_layers(report), "scope_note": scan_scope_note(report),
        "config": _config_view(given, report["scan"].get("config_digest")),
        "identities_in_findings": identities_on_page,
        "layers_in_findings": [l for l in LAYERS if l in layers_on_page],
        "verdict_text": VERDICT_TEXT,
        "charts": {
            "severity": charts.hbar_chart(
                [(s, n, charts.SEVERITY_COLOURS[s]) for s, n in sev.items()],
                "Open findings by severity"),
            "ages": charts.column_chart(list(ages["buckets"].items()),
                                        "Age of active credentials at scan time"),
            "history": charts.stacked_history(hist, "Findings per scan"),
        },
        "severities": list(reversed(SEVERITIES)),
    }


def render_html_chunks(inv, scan_id: str, given: ReportInput | None = None, limit: int | None = None,
                       ) -> Iterator[str]:
    """The page as a stream of text chunks (Jinja2 ``generate``): findings are read from
    DuckDB while the page is written, so memory follows the page, not the estate."""
    env = _env()
    view = build_view(inv, scan_id, given, limit)
    css = env.get_template("report.css.j2").render()
    js = env.get_template("report.js.j2").render()
    csp = ("default-src 'none'; " f"style-src {csp_hash(css)}; " f"script-src {csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    yield from env.get_template("report.html.j2").generate(
        **view, css=Markup(css), js=Markup(js), csp=csp)


@renderer("html")
def render_html(inv, scan_id: str, given: ReportInput | None = None, limit: int | None = None) -> str:
    return "".join(render_html_chunks(inv, scan_id, given, limit))


@streamer("html")
def stream_html(inv, scan_id: str, given: ReportInput | None = None) -> Iterator[str]:
    """``residual report --format html -o FILE`` writes these chunks as they come."""
    return render_html_chunks(inv, scan_id, given)

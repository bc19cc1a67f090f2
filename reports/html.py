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

Like every renderer it only reads the inventory: ``build_report`` (the residual/report/v1
data) plus the scan history, the credentials table (age histogram) and the previous
scan's findings (the diff).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reports import charts, renderer
from reports.data import (
    build_report, canonical_json, configured_layers, credential_ages, data_digest, history,
    scan_now, severity_counts,
)
from reports.diff import diff_against_previous
from reports.waivers import waiver_summary
from scanner.model import LAYERS, SEVERITIES, Identity, severity_rank

TEMPLATES = Path(__file__).parent / "templates"

LAYER_TITLES = {
    "directory": "Directory (roster, Okta, SCIM)", "cloud": "Cloud (AWS IAM and friends)",
    "code-hosting": "Code hosting (GitHub, GitLab)", "ci-cd": "CI/CD secrets and variables",
    "kubernetes": "Kubernetes", "iac": "Infrastructure as code", "saas": "SaaS applications",
}
VERDICT_TEXT = {"clean": "clean", "residual": "residual access", "incomplete": "incomplete",
                "not_configured": "not configured"}


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["j2", "html"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["node_parts"] = node_parts
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
    return json.dumps(value, sort_keys=True, default=str)


def _checklist(report: dict[str, Any], inv, scan_id: str) -> list[dict[str, Any]]:
    """Per leaver, per layer: the verdict and the evidence behind it."""
    idents = {i.id: i for i in inv.iter(Identity, scan_id)}
    cov_by_layer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in report["coverage"]:
        cov_by_layer[c["layer"]].append(c)
    by_ident_layer: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in report["findings"]:
        if f["identity"]:
            by_ident_layer[(f["identity"], f["layer"])].append(f)
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


def _groups(findings: list[dict[str, Any]], rules_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings grouped by rule, the most severe group first."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        groups[f["rule"]].append(f)
    out = []
    for rule_id, items in groups.items():
        top = max(items, key=lambda f: severity_rank(f["severity"]))["severity"]
        meta = rules_meta.get(rule_id)
        out.append({"rule": rule_id, "severity": top, "findings": items,
                    "title": meta.title if meta else items[0]["title"],
                    "description": meta.description if meta else ""})
    return sorted(out, key=lambda g: (-severity_rank(g["severity"]), g["rule"]))


def _config_view(config: Any, scan_digest: str | None) -> dict[str, Any]:
    """The configuration the auditor can read: redacted, and only if it is the one the
    scan ran with (same redacted digest); otherwise just say it changed."""
    if config is None or not hasattr(config, "digest"):
        return {"matches": None, "text": ""}
    from scanner.config import redact
    matches = bool(scan_digest) and config.digest() == scan_digest
    text = config.redact_text(yaml.safe_dump(redact(config.raw), sort_keys=False)) if matches else ""
    return {"matches": matches, "text": text}


def build_view(inv, scan_id: str, config: Any = None) -> dict[str, Any]:
    from rules.base import all_rules

    report = build_report(inv, scan_id)
    now = scan_now(inv, scan_id)
    rules_meta = {rid: r.meta for rid, r in all_rules().items()}
    findings = report["findings"]
    diff = diff_against_previous(inv, scan_id)
    new_fps = {r["fingerprint"] for r in diff["new"]} if diff else None
    for f in findings:  # the diff's word for each finding, next to its waiver status
        f_change = ("new" if f["fingerprint"] in new_fps else "persisting") if new_fps is not None \
            else "first scan"
        f.setdefault("_change", f_change)
    configured = configured_layers(report)
    sev = severity_counts(findings)
    by_layer: dict[str, dict[str, int]] = {}
    for f in findings:
        if f["status"] == "waived":
            continue
        row = by_layer.setdefault(f["layer"], {s: 0 for s in reversed(SEVERITIES)})
        row[f["severity"]] += 1
    verdicts = {v: 0 for v in ("residual", "incomplete", "clean", "not_configured")}
    for ident in report["identities"]:
        verdicts[ident["verdict"]] = verdicts.get(ident["verdict"], 0) + 1
    ages = credential_ages(inv, scan_id, now)
    hist = history(inv, scan_id)
    clean_data = {k: v for k, v in report.items()}
    clean_data["findings"] = [{k: v for k, v in f.items() if not k.startswith("_")} for f in findings]
    cov_counts = {s: sum(1 for c in report["coverage"] if c["status"] == s)
                  for s in ("ok", "partial", "failed", "skipped")}
    return {
        "report": report, "scan": report["scan"], "now": now.isoformat(),
        "digest": data_digest(clean_data), "data_json": json_for_script(clean_data),
        "checklist": _checklist(report, inv, scan_id),
        "groups": _groups(findings, rules_meta),
        "diff": diff, "history": hist, "ages": ages,
        "severity_counts": sev, "by_layer": by_layer, "verdicts": verdicts,
        "coverage_counts": cov_counts,
        "layers": LAYERS, "layer_titles": LAYER_TITLES, "configured": configured,
        "not_configured": [l for l in LAYERS if l not in configured],
        "waivers": waiver_summary(findings),
        "config": _config_view(config, report["scan"].get("config_digest")),
        "identities_in_findings": sorted({f["identity"] for f in findings if f["identity"]}),
        "layers_in_findings": [l for l in LAYERS if any(f["layer"] == l for f in findings)],
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


@renderer("html")
def render_html(inv, scan_id: str, config: Any = None) -> str:
    env = _env()
    view = build_view(inv, scan_id, config)
    css = env.get_template("report.css.j2").render()
    js = env.get_template("report.js.j2").render()
    csp = ("default-src 'none'; " f"style-src {csp_hash(css)}; " f"script-src {csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return env.get_template("report.html.j2").render(
        **view, css=Markup(css), js=Markup(js), csp=csp)

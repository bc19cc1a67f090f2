"""The HTML report of an estate with more hygiene findings than the page shows: every
leaver finding and every high/critical one in full, the first N of each rule's tail,
and a plain count of what was left out (the JSON report holds it all). The estate is the
benchmarks' synthetic organisation (fixtures/synth.py), analysed by the real pipeline;
the report is rendered by the real CLI."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections import Counter
from datetime import datetime

import pytest
import yaml

from fixtures.synth import generate, write_roster_csv
from reports.data import build_report, data_digest, streamed_digest, report_head
from reports.html import anchor
from scanner.config import load_config
from scanner.core.model import Identity
from scanner.core.store import Inventory
from scanner.pipeline import _resolve_into, analyse
from tests.conftest import run_cli
from reports import ReportInput

NOW = "2026-11-21T12:00:00+00:00"
CAP = 3


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("htmlscale")
    write_roster_csv(tmp / "roster.csv", 40, 7)
    (tmp / "residual.yaml").write_text(yaml.safe_dump({
        "inventory": str(tmp / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
        "fingerprint_key": str(tmp / "fp.key"), "cache_dir": str(tmp / "cache")}))
    config = load_config(tmp / "residual.yaml")
    with Inventory(tmp / "residual.duckdb") as inv:
        r = generate(inv, 40, 7)
        _resolve_into(inv, r.scan_id, inv.load(Identity, r.scan_id))
        analyse(inv, r.scan_id, config, now=datetime.fromisoformat(NOW))
        report = build_report(inv, r.scan_id)
        leavers = {i.id for i in inv.iter(Identity, r.scan_id) if i.is_leaver}
    return {"dir": tmp, "scan": r.scan_id, "report": report, "leavers": leavers}


def _render(estate, cap: int | None) -> str:
    out = estate["dir"] / f"report-{cap}.html"
    env = {"RESIDUAL_HTML_TAIL_LIMIT": str(cap)} if cap is not None else {}
    p = run_cli("report", "-c", str(estate["dir"] / "residual.yaml"), "--scan", estate["scan"],
                "--format", "html", "-o", str(out), env=env)
    assert p.returncode == 0, p.stderr
    return out.read_text(encoding="utf-8")


def _articles(page: str) -> list[str]:
    return re.findall(r'<article class="finding[^"]*" id="f-([0-9a-f]+)"', page)


def _must_show(f: dict, leavers: set[str]) -> bool:
    return f["severity"] in ("high", "critical") or f["identity"] in leavers


def test_capped_page_shows_every_leaver_and_severe_finding_and_says_what_it_left_out(estate):
    findings, leavers = estate["report"]["findings"], estate["leavers"]
    must = [f for f in findings if _must_show(f, leavers)]
    tail = Counter(f["rule"] for f in findings if not _must_show(f, leavers))
    assert must and max(tail.values()) > CAP  # the estate really overflows the cap
    page = _render(estate, CAP)
    shown = _articles(page)
    assert len(shown) == len(set(shown))
    # every leaver finding and every high/critical one, in full
    assert {f["fingerprint"] for f in must} <= set(shown)
    leaver_fp = next(f["fingerprint"] for f in must if f["identity"] in leavers)
    art = page.split(f'id="f-{leaver_fp}"')[1].split("</article>")[0]
    assert "<dt>Path</dt>" in art and "<dt>Identity</dt>" in art
    # the tail: exactly the first CAP of each rule (report order), the rest counted
    by_rule = Counter(f["rule"] for f in findings if f["fingerprint"] in set(shown)
                      and not _must_show(f, leavers))
    assert by_rule == Counter({rule: min(n, CAP) for rule, n in tail.items()})
    for rule in tail:
        first = [f["fingerprint"] for f in findings if f["rule"] == rule and not _must_show(f, leavers)]
        assert set(first[:CAP]) <= set(shown) and not set(first[CAP:]) & set(shown)
    left_out = sum(n - min(n, CAP) for n in tail.values())
    assert len(shown) + left_out == len(findings)
    assert (f"<strong>{left_out} findings are not on this page</strong> "
            f"({len(shown)} of {len(findings)} shown)") in page
    assert "The JSON, CSV and SARIF reports hold all of them" in page
    # per rule (and layer), in the summary table and in each rule's header: what is missing
    table = page.split('id="tail-summary"')[1].split("</table>")[0]
    missing: Counter = Counter()
    for rule, _layer, total, full, out in re.findall(
            r'<tr><td>([^<]+)</td><td>([^<]+)</td><td>.*?</td><td class="num">(\d+)</td>'
            r'<td class="num">(\d+)</td><td class="num">(\d+)</td></tr>', table):
        assert int(total) == int(full) + int(out)
        missing[rule] += int(out)
    assert +missing == Counter({r: n - CAP for r, n in tail.items() if n > CAP})
    per_rule = Counter(f["rule"] for f in findings)
    for rule, n in missing.items():
        assert (f"{per_rule[rule] - n} of {per_rule[rule]} shown: {n} more in the JSON report"
                in page.split(f'id="rule-{anchor(rule)}"')[1].split("<article")[0])


def test_capped_page_digest_is_over_the_full_report_data(estate):
    page = _render(estate, CAP)
    full = estate["report"]
    assert f"sha256:{data_digest(json.loads(json.dumps(full, default=str)))}" in page
    with Inventory(estate["dir"] / "residual.duckdb", read_only=True) as inv:
        assert streamed_digest(inv, estate["scan"], report_head(inv, estate["scan"])) == \
            (data_digest(full), len(full["findings"]))
    embedded = json.loads(page.split('id="residual-data">')[1].split("</script>")[0])
    assert embedded["findings"] == [] and embedded["identities"] == json.loads(
        json.dumps(full["identities"]))
    assert "holds the scan, coverage and verdicts without findings" in page
    # the JSON report really holds every finding the page left out
    p = run_cli("report", "-c", str(estate["dir"] / "residual.yaml"), "--scan", estate["scan"],
                "--format", "json")
    assert len(json.loads(p.stdout)["findings"]) == len(full["findings"])


def test_page_under_the_cap_is_whole_and_says_nothing_was_left_out(estate):
    """The near miss: with a cap above every rule's tail, nothing is left out, no
    statement says so, and the embedded data is the whole report data again."""
    findings = estate["report"]["findings"]
    page = _render(estate, len(findings))
    assert len(_articles(page)) == len(findings)
    assert "not on this page" not in page and 'id="tail-summary"' not in page
    embedded = json.loads(page.split('id="residual-data">')[1].split("</script>")[0])
    assert len(embedded["findings"]) == len(findings)
    assert f"sha256:{data_digest(embedded)}" in page
    assert "<dt>Remediation</dt>" in page  # not compact: every finding carries its own


def test_default_cap_is_fifty_and_leaver_checklist_is_complete(estate):
    findings, leavers = estate["report"]["findings"], estate["leavers"]
    page = _render(estate, None)
    tail = Counter(f["rule"] for f in findings if not _must_show(f, leavers))
    left_out = sum(n - min(n, 50) for n in tail.values())
    if left_out:
        assert f"<strong>{left_out} finding" in page
    else:
        assert "not on this page" not in page
    # every leaver's checklist links every one of their findings, all of them on the page
    for ident in estate["report"]["identities"]:
        assert f"<code>{htmllib.escape(ident['id'])}</code>" in page
    shown = set(_articles(page))
    for f in findings:
        if f["identity"] in leavers:
            assert f'href="#f-{f["fingerprint"]}"' in page and f["fingerprint"] in shown


def test_changes_since_a_previous_scan_are_counted_in_full_and_listed_up_to_the_cap(tmp_path):
    """Two scans of different estates: the counts are residual diff's, every severe or
    leaver row of new/resolved is listed, the rest up to the cap, and what is not listed
    is said (with the diff command that lists it)."""
    from reports.diff import diff_scans
    from reports.html import render_html

    write_roster_csv(tmp_path / "roster.csv", 30, 7)
    (tmp_path / "residual.yaml").write_text(yaml.safe_dump({
        "inventory": str(tmp_path / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
        "fingerprint_key": str(tmp_path / "fp.key")}))
    config = load_config(tmp_path / "residual.yaml")
    with Inventory(tmp_path / "residual.duckdb") as inv:
        scans = []
        for seed in (7, 8):
            r = generate(inv, 30, seed)
            _resolve_into(inv, r.scan_id, inv.load(Identity, r.scan_id))
            analyse(inv, r.scan_id, config, now=datetime.fromisoformat(NOW))
            scans.append(r.scan_id)
        leavers = {i.id for i in inv.iter(Identity, scans[1]) if i.is_leaver}
        d = diff_scans(inv, scans[0], scans[1])
        page = render_html(inv, scans[1], ReportInput.from_config(config), limit=CAP)
    assert d["new"] and d["resolved"]
    assert (f"<strong>{len(d['new'])}</strong> new, <strong>{len(d['resolved'])}</strong> resolved, "
            f"<strong>{len(d['persisting'])}</strong> persisting") in page
    changes = page.split('<section id="changes">')[1].split("</section>")[0]
    parts = dict(zip(("new", "resolved", "persisting"), re.split(r"<h3>(?:New|Resolved|Persisting) ", changes)[1:]))
    for kind in ("new", "resolved"):
        rows, seen_tail = [], Counter()
        for r in d[kind]:
            if _must_show(r, leavers):
                rows.append(r["fingerprint"])
            elif seen_tail[r["rule"]] < CAP:
                seen_tail[r["rule"]] += 1
                rows.append(r["fingerprint"])
        listed = re.findall(r'class="mono">(?:<a href="#f-[0-9a-f]+">)?([0-9a-f]{12})<', parts[kind])
        assert sorted(listed) == sorted(fp[:12] for fp in rows)
        missing = len(d[kind]) - len(rows)
        assert missing > 0
        assert f"{missing} not listed here: <code>residual diff --from {scans[0]} --to {scans[1]}</code>" \
            in parts[kind]
    listed = re.findall(r'class="mono">(?:<a href="#f-[0-9a-f]+">)?([0-9a-f]{12})<', parts["persisting"])
    assert len(listed) == min(CAP, len(d["persisting"]))
    # every link in the page leads to something on it
    ids = set(re.findall(r' id="([^"]+)"', page))
    assert {h[1:] for h in re.findall(r'href="(#[^"]+)"', page)} <= ids

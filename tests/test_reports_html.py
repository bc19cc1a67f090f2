"""The HTML report, read as text: self-contained, strict CSP, escaped, and saying what
was and was not checked. (tests/test_html_browser.py checks the same page in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import re

import pytest
from markupsafe import escape

from reports import render
from reports.data import build_report, data_digest
from reports.diff import diff_scans
from scanner.core.store import Inventory
from tests.test_reports_estate import XSS_IMG, XSS_PATH, XSS_SCRIPT, build_estate
from reports import ReportInput


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    return build_estate(tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="module")
def pages(estate):
    with Inventory(estate.path, read_only=True) as inv:
        return {"scan1": render("html", inv, estate.scan1, ReportInput.from_config(estate.config)),
                "scan2": render("html", inv, estate.scan2, ReportInput.from_config(estate.config))}


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start) + len(start)
    return text[i:text.index(end, i)]


def _sha(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_self_contained_with_a_strict_csp_that_matches_its_inline_code(pages):
    page = pages["scan2"]
    csp = htmllib.unescape(_between(page, 'http-equiv="Content-Security-Policy" content="', '"'))
    assert csp.startswith("default-src 'none';")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    style = _between(page, "<style>", "</style>")
    script = _between(page, "<script>", "</script>")
    assert f"style-src 'sha256-{_sha(style)}'" in csp
    assert f"script-src 'sha256-{_sha(script)}'" in csp
    # nothing to fetch: no src attribute at all, links only within the page, no CSS imports
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    assert not [t for t in tags if re.search(r"\s(src|srcset|action|formaction|background)\s*=", t)]
    assert {h[0] for h in re.findall(r'href="([^"]*)"', page)} == {"#"}
    assert "@import" not in style and "url(" not in style
    assert not re.search(r"style\s*=\s*\"", page)  # style attributes would break the CSP
    assert page.count("<script") == 2  # the data block and the filter script


def test_hostile_values_are_text_everywhere(pages):
    page = pages["scan2"]
    assert "<img" not in page
    assert XSS_SCRIPT not in page  # would close the script element
    assert htmllib.escape(XSS_IMG, quote=False) in page
    assert htmllib.escape(XSS_SCRIPT, quote=False) in page
    assert "&#34;quoted&#34; &#39;main&#39;.tf" in page  # quotes escaped in text too
    data_block = _between(page, '<script type="application/json" id="residual-data">', "</script>")
    assert "<" not in data_block and ">" not in data_block
    data = json.loads(data_block)
    assert any(f["location"] and f["location"]["path"] == XSS_PATH for f in data["findings"])


def test_embedded_data_is_the_report_data_and_its_digest_is_printed(estate, pages):
    page = pages["scan2"]
    data = json.loads(_between(page, '<script type="application/json" id="residual-data">', "</script>"))
    with Inventory(estate.path, read_only=True) as inv:
        assert data == json.loads(json.dumps(build_report(inv, estate.scan2), default=str))
    assert f"sha256:{data_digest(data)}" in page
    with Inventory(estate.path, read_only=True) as inv:
        assert data_digest(build_report(inv, estate.scan1)) != data_digest(data)


def test_summary_coverage_and_layers_not_configured(pages):
    second, first = pages["scan2"], pages["scan1"]
    assert re.search(r'class="n">2</div><div class="l">leavers with residual access', second)
    assert re.search(r'class="n">2</div><div class="l">leavers verified clean', second)
    assert "Not checked:" in second and "CI/CD secrets and variables" in second
    not_checked = _between(second, "Not checked:", "</p>")
    assert "SaaS applications" in not_checked and "Sessions and use after termination" in not_checked
    assert "<strong></strong>" not in not_checked  # every layer has its title
    # the skipped optional endpoint is listed with its reason
    assert "403 Forbidden: the token lacks read:audit_log" in second
    # scan 1: kubernetes failed -> a coverage warning, the error, and no clean verdict for it
    assert "Coverage is incomplete." in first and "Coverage is incomplete." not in second
    assert "ConnectionError: connection refused (127.0.0.1:6443)" in first
    assert re.search(r'class="n">0</div><div class="l">leavers verified clean', first)


def test_leaver_checklist_gives_evidence_per_layer(pages):
    page = pages["scan2"]
    alice = _between(page, "<code>alice@example.com</code>", '<div class="leaver"')
    assert "Credential used after its holder&#39;s termination" in alice
    assert "No collector covers this layer: it was not checked." in alice
    carol = _between(page, "<code>carol@example.com</code>", "</table>")
    assert "residual access" not in carol
    assert "Checked by kubernetes <code>prod</code> (40 records)" in carol
    assert "Nothing found. <span" in carol  # not "Nothing found.Checked by"
    first_carol = _between(pages["scan1"], "<code>carol@example.com</code>", "</table>")
    assert "connection refused" in first_carol and "incomplete" in first_carol


def test_findings_carry_evidence_path_remediation_frameworks_and_status(estate, pages):
    page = pages["scan2"]
    art = _between(page, f'id="f-{estate.exposure_fp}"', "</article>")
    assert f"{escape(XSS_PATH)}:12" in art
    assert "<b>identity</b>alice@example.com" in art and "<b>credential</b>" in art
    assert "Remove the key from the file and its history" in art
    assert "OWASP-NHI:NHI2" in art and 'chg-new">new<' in art
    assert 'data-status="new open"' in page.split(f'id="f-{estate.exposure_fp}"')[1][:400]


def test_waived_is_shown_and_expired_waiver_is_reported(pages):
    page = pages["scan2"]
    assert "<strong>Waived</strong> by ciso@example.com until 2027-01-31" in page
    assert page.count('class="finding waived"') == 1
    assert "<strong>A waiver expired on 2026-11-01</strong>" in page
    assert "1 expired waiver" in page


def test_changes_match_residual_diff(estate, pages):
    with Inventory(estate.path, read_only=True) as inv:
        d = diff_scans(inv, estate.scan1, estate.scan2)
    assert (len(d["new"]), len(d["resolved"])) == (3, 2)
    page = pages["scan2"]
    assert (f"<strong>{len(d['new'])}</strong> new, <strong>{len(d['resolved'])}</strong> resolved, "
            f"<strong>{len(d['persisting'])}</strong> persisting") in page
    changes = _between(page, '<section id="changes">', "</section>")
    for r in d["resolved"]:
        assert r["fingerprint"][:12] in changes
    resolved = _between(changes, "<h3>Resolved", "</table>")
    assert resolved.count("<td>resolved</td>") == len(d["resolved"]) and "<td>new</td>" not in resolved
    assert "first finished scan" in pages["scan1"]


def test_charts_are_inline_svg_from_history_and_credentials(estate, pages):
    page = pages["scan2"]
    assert "Findings per scan" in page
    hist = _between(page, "<title>Findings per scan</title><desc>", "</desc>")
    assert estate.scan1 in hist and estate.scan2 in hist
    ages = _between(page, "<title>Age of active credentials at scan time</title><desc>", "</desc>")
    assert ages == "&lt; 30 d: 1; 30-90 d: 1; 90-180 d: 1; 180 d-1 y: 0; 1-2 y: 0; &gt; 2 y: 2"
    sev = _between(page, "<title>Open findings by severity</title><desc>", "</desc>")
    assert sev == "critical: 1; high: 5; medium: 3; low: 4; info: 0"  # the waived high is not open


def test_appendix_metadata_and_redacted_config(estate, pages):
    page = pages["scan2"]
    appendix = _between(page, '<section id="appendix"', "</section>")
    assert estate.config.digest() in appendix
    assert "2026-11-21 12:00 UTC" in appendix  # the analysis time, not the wall clock
    assert "ghp_FAKEFAKEFAKEFAKE" not in page and "not-a-real-token" not in page
    assert "token: &#39;***&#39;" in appendix
    assert "@media print" in page

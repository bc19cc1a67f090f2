"""The HTML report in a real browser: headless Chromium driven over the DevTools protocol.

What an auditor relies on, checked where it actually happens (in the browser, not in the
template): the page loads with no console error and no CSP violation, it requests nothing
but itself, hostile names stay text, the filters work by clicking, it reads with
JavaScript off, and it prints. A screenshot and a PDF are kept in test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from reports import render
from scanner.core.store import Inventory
from tests.test_reports_estate import XSS_IMG, XSS_PATH, XSS_SCRIPT, build_estate
from reports import ReportInput

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="headless Chromium is not installed (`make browser` installs "
                              "Debian's chromium package); the HTML report's browser test cannot run"),
]

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")


class DevTools:
    """A minimal DevTools-protocol client: one page, calls by id, events buffered."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str) -> dict:
        for i, msg in enumerate(self.events):
            if msg.get("method") == event:
                return self.events.pop(i)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == event:
                return msg
            self.events.append(msg)

    def js(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def load(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    estate = build_estate(tmp)
    with Inventory(estate.path, read_only=True) as inv:
        html = render("html", inv, estate.scan2, ReportInput.from_config(estate.config))
    path = tmp / "report.html"
    path.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "report.html")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-component-update", "--disable-sync", "--remote-allow-origins=*",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,900",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:  # Chromium announces its DevTools endpoint on stderr
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                break
        if port is None:
            pytest.fail(f"chromium did not start (exit {proc.wait(timeout=10)})")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        yield pages[0]["webSocketDebuggerUrl"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def page(browser):
    dt = DevTools(browser)
    for domain in ("Page", "Runtime", "Log", "Network"):
        dt.call(f"{domain}.enable")
    dt.call("Emulation.setScriptExecutionDisabled", value=False)
    yield dt
    dt.close()


def test_loads_clean_requests_nothing_and_keeps_xss_as_text(page, report_file):
    url = report_file.as_uri()
    page.load(url)
    assert page.js("document.title").startswith("Residual access report")
    page.call("Runtime.evaluate", expression="void 0")  # flush pending events
    errors = [e for e in page.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    dialogs = [e for e in page.events if e.get("method") == "Page.javascriptDialogOpening"]
    assert dialogs == []  # no alert() ran
    requests = {e["params"]["request"]["url"] for e in page.events
                if e.get("method") == "Network.requestWillBeSent"}
    assert requests <= {url}, f"the report requested something else: {requests - {url}}"
    # hostile values: present as text, never as elements
    assert page.js("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.js("document.querySelectorAll('script').length") == 2
    body = page.js("document.body.innerText")
    assert XSS_IMG in body
    assert XSS_SCRIPT in body
    assert XSS_PATH + ":12" in body
    # the embedded data parses back to the report's data, hostile values intact
    data = page.js("JSON.parse(document.getElementById('residual-data').textContent)")
    assert data["schema"] == "residual/report/v1"
    assert any(f["location"] and f["location"]["path"] == XSS_PATH for f in data["findings"])
    # the CSP is the strict one, enforced from the meta tag
    csp = page.js("document.querySelector('meta[http-equiv=Content-Security-Policy]').content")
    assert csp.startswith("default-src 'none';") and "script-src 'sha256-" in csp
    # a full-page screenshot for the record
    height = page.js("Math.ceil(document.documentElement.scrollHeight)")
    page.call("Emulation.setDeviceMetricsOverride", width=1280, height=min(height, 12000),
              deviceScaleFactor=1, mobile=False)
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    page.call("Emulation.clearDeviceMetricsOverride")
    import base64
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (ARTIFACTS / "report.png").write_bytes(png)


def _click(page: DevTools, selector: str) -> None:
    """A real mouse click at the element's centre (not element.click())."""
    box = page.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
        el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
        return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
                  clickCount=1)


VISIBLE = "[...document.querySelectorAll('article.finding')].filter(f => !f.hidden)"


def test_filters_work_by_clicking(page, report_file):
    page.load(report_file.as_uri())
    total = page.js("document.querySelectorAll('article.finding').length")
    assert total >= 6
    assert page.js(f"{VISIBLE}.length") == total
    assert page.js("document.getElementById('filters').hidden") is False
    # severity toggles: switch off everything but critical
    for sev in ("high", "medium", "low", "info"):
        _click(page, f"button.sev-toggle[data-severity={sev}]")
    shown = page.js(f"{VISIBLE}.map(f => f.dataset.severity)")
    assert shown and set(shown) == {"critical"}
    assert page.js("document.getElementById('filter-count').textContent") == \
        f"{len(shown)} of {total} findings shown"
    # groups with nothing left are hidden too
    assert page.js("[...document.querySelectorAll('section.group')].filter(g => !g.hidden)"
                   ".every(g => g.querySelector('article.finding:not([hidden])'))") is True
    _click(page, "button[type=reset]")
    assert page.js(f"{VISIBLE}.length") == total
    # status filter: waived only
    page.js("(() => { const s = document.querySelector('select[name=status]'); s.value = 'waived';"
            " s.dispatchEvent(new Event('change', {bubbles: true})); })()")
    waived = page.js(f"{VISIBLE}.map(f => f.dataset.identity)")
    assert waived == ["dave@example.com"]
    # free-text search, typed
    _click(page, "button[type=reset]")
    _click(page, "input[name=q]")
    page.call("Input.insertText", text="onerror")
    shown = page.js(f"{VISIBLE}.map(f => f.textContent.includes('onerror'))")
    assert shown and all(shown) and len(shown) < total


def test_reads_with_javascript_off_and_prints(page, report_file):
    page.call("Emulation.setScriptExecutionDisabled", value=True)
    page.load(report_file.as_uri())
    total = page.js("document.querySelectorAll('article.finding').length")
    assert page.js(f"{VISIBLE}.length") == total
    # the filter form (useless without scripts) stays hidden
    assert page.js("getComputedStyle(document.getElementById('filters')).display") == "none"
    page.call("Emulation.setScriptExecutionDisabled", value=False)
    page.load(report_file.as_uri())
    for sev in ("critical", "high"):
        _click(page, f"button.sev-toggle[data-severity={sev}]")
    page.call("Emulation.setEmulatedMedia", media="print")
    # printing shows every finding, whatever the screen filters hide, and no filter form
    assert page.js("[...document.querySelectorAll('article.finding')]"
                   ".every(f => getComputedStyle(f).display !== 'none')") is True
    assert page.js("getComputedStyle(document.getElementById('filters')).display") == "none"
    page.call("Emulation.setEmulatedMedia", media="")
    pdf = page.call("Page.printToPDF", printBackground=True)
    import base64
    data = base64.b64decode(pdf["data"])
    assert data[:5] == b"%PDF-"
    (ARTIFACTS / "report.pdf").write_bytes(data)


@pytest.fixture(scope="module")
def capped_report_file(tmp_path_factory) -> tuple[Path, int, int]:
    """The synthetic estate (fixtures/synth.py) rendered with a tail cap of 3: a page that
    leaves findings out. Returns the file, the findings on it and in the scan."""
    from datetime import datetime

    import yaml

    from fixtures.synth import generate, write_roster_csv
    from reports.html import render_html
    from scanner.config import load_config
    from scanner.core.model import Identity
    from scanner.pipeline import _resolve_into, analyse

    tmp = tmp_path_factory.mktemp("html-capped")
    write_roster_csv(tmp / "roster.csv", 30, 7)
    (tmp / "residual.yaml").write_text(yaml.safe_dump({
        "inventory": str(tmp / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
        "fingerprint_key": str(tmp / "fp.key")}))
    config = load_config(tmp / "residual.yaml")
    with Inventory(tmp / "residual.duckdb") as inv:
        r = generate(inv, 30, 7)
        _resolve_into(inv, r.scan_id, inv.load(Identity, r.scan_id))
        analyse(inv, r.scan_id, config, now=datetime.fromisoformat("2026-11-21T12:00:00+00:00"))
        html = render_html(inv, r.scan_id, ReportInput.from_config(config), limit=3)
        total = inv.query("SELECT count(*) FROM findings WHERE scan_id = ?", [r.scan_id])[0][0]
    path = tmp / "report-capped.html"
    path.write_text(html, encoding="utf-8")
    return path, html.count('<article class="finding'), int(total)


def test_capped_page_loads_clean_says_what_it_left_out_and_filters(page, capped_report_file):
    path, shown, total = capped_report_file
    assert shown < total
    page.load(path.as_uri())
    page.call("Runtime.evaluate", expression="void 0")
    errors = [e for e in page.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    assert {e["params"]["request"]["url"] for e in page.events
            if e.get("method") == "Network.requestWillBeSent"} <= {path.as_uri()}
    note = page.js("document.getElementById('left-out').innerText")
    assert f"{total - shown} findings are not on this page ({shown} of {total} shown)" in note
    assert "JSON, CSV and SARIF reports hold all of them" in note
    assert page.js("document.getElementById('filter-count').textContent") == \
        f"{shown} of {shown} findings shown"
    for sev in ("medium", "low", "info"):
        _click(page, f"button.sev-toggle[data-severity={sev}]")
    severe = page.js(f"{VISIBLE}.map(f => f.dataset.severity)")
    assert severe and set(severe) <= {"critical", "high"} and len(severe) < shown
    page.call("Emulation.setEmulatedMedia", media="print")
    assert page.js("[...document.querySelectorAll('article.finding')]"
                   ".every(f => getComputedStyle(f).display !== 'none')") is True
    page.call("Emulation.setEmulatedMedia", media="")


def test_fits_a_360_pixel_screen(page, report_file):
    """A phone (360 CSS pixels): nothing is wider than the screen (no sideways scroll), so
    the coverage status and the evidence are read, not cut off at the right edge."""
    page.call("Emulation.setDeviceMetricsOverride", width=360, height=740, deviceScaleFactor=2, mobile=True)
    try:
        page.load(report_file.as_uri())
        assert page.js("document.documentElement.clientWidth") == 360
        wide = page.js("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 361"
                       " && getComputedStyle(e).position !== 'fixed').slice(0, 12).map(e => e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right))")
        assert wide == [], wide
        assert page.js("document.documentElement.scrollWidth") <= 360
        import base64
        shot = page.call("Page.captureScreenshot", format="png")
        (ARTIFACTS / "report-360.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        page.call("Emulation.clearDeviceMetricsOverride")

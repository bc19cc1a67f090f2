"""Attack surface: hostile inventories and terminals (issue 15), through the real CLI.

- an API error (here Okta's errorSummary) carrying an OSC 52 clipboard write, a screen
  clear, a carriage return and a fake "ALL CLEAN" line, rich markup (a live link) and an
  unbalanced ``[/x]``: the scan summary prints it as inert text and does not crash;
- the Markdown report puts that error in a code span (no autolink, no @mention);
- an inventory copied from elsewhere whose table was replaced by a view reading a local
  file (the fingerprint key), or that holds a macro, is refused before any report.
"""

from __future__ import annotations

import duckdb

from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures/demo/roster.csv").read_text().strip().splitlines()[1:]
HOSTILE = ("denied [link=https://evil.invalid]click[/link] @admins https://evil.invalid [/x] [bold] "
           "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b[H\u202e\rALL CLEAN\nALL CLEAN")


def test_hostile_api_error_is_inert_on_the_terminal_and_in_markdown(tmp_path):
    with demo_okta() as okta:
        okta.fault(r"^/api/v1/users$", status=403, body={
            "errorCode": "E0000006", "errorSummary": HOSTILE, "errorLink": "E0000006",
            "errorId": "x", "errorCauses": []})
        cfg = write_config(tmp_path, {"collectors": {"okta": [
            {"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}]}}, ROSTER)
        res = run_cli("scan", "-c", str(cfg), "-v", env={"OKTA_TOKEN": OKTA_TOKEN, "COLUMNS": "400"})
    assert res.returncode == 3, res.stderr[-3000:]  # incomplete, and no crash on "[/x]"
    assert "Traceback" not in res.stderr and "MarkupError" not in res.stderr
    for stream in (res.stdout, res.stderr):
        assert not any(ch in stream for ch in ("\x1b", "\x07", "\r")), repr(stream[-2000:])
        assert not any(line.strip() == "ALL CLEAN" for line in stream.splitlines())
    assert "[/x]" in res.stderr and "[link=https://evil.invalid]" in res.stderr  # shown, not obeyed

    md = run_cli("report", "-c", str(cfg), "--format", "md", env={"OKTA_TOKEN": OKTA_TOKEN})
    assert md.returncode == 0, md.stderr
    (line,) = [ln for ln in md.stdout.splitlines() if "denied" in ln]
    assert "`OktaError: GET /api/v1/users: HTTP 403 E0000006: denied [link=" in line  # a code span
    assert "\x1b" not in line and "?]52;c;cHduZWQ=?" in line
    assert line.rstrip().endswith("`")


def _scanned(tmp_path):
    cfg = write_config(tmp_path, {"fingerprint_key": str(tmp_path / "fp.key")}, ROSTER)
    assert run_cli("scan", "-c", str(cfg), "-q").returncode in (0, 1, 3)
    return cfg


def test_inventory_with_a_view_reading_local_files_is_refused(tmp_path):
    cfg = _scanned(tmp_path)
    key = (tmp_path / "fp.key").read_text().strip()
    con = duckdb.connect(str(tmp_path / "residual.duckdb"))
    cols = [r[0] for r in con.execute("DESCRIBE identities").fetchall()]
    con.execute("DROP TABLE identities")
    select = ", ".join(f"content AS \"{c}\"" if c == "name" else f"NULL AS \"{c}\"" for c in cols)
    con.execute(f"CREATE VIEW identities AS SELECT {select} FROM read_text('{tmp_path / 'fp.key'}')")
    con.close()
    for args in (("report", "--format", "json"), ("plan", "alice@example.com"), ("export", "-o", str(tmp_path / "pq"))):
        r = run_cli(*args[:1], "-c", str(cfg), *args[1:])
        assert r.returncode == 2, (args, r.stdout[-500:], r.stderr[-500:])
        assert "identities (view)" in r.stderr and key not in r.stdout + r.stderr


def test_inventory_with_a_macro_is_refused(tmp_path):
    cfg = _scanned(tmp_path)
    con = duckdb.connect(str(tmp_path / "residual.duckdb"))
    con.execute("CREATE MACRO lower(x) AS 'pwned'")
    con.close()
    r = run_cli("report", "-c", str(cfg), "--format", "json")
    assert r.returncode == 2 and "lower (macro)" in r.stderr, r.stderr

"""Reports as files their readers take: CSV for spreadsheets (--bom, NUL), Markdown split
per leaver for tickets (each file under an issue body's limit), HTML ids and form. Through
the real CLI, over a real IaC scan."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from reports.html import LAYER_TITLES
from reports.markdown import BODY_LIMIT, _pages
from scanner.core.model import LAYERS
from tests.conftest import run_cli, write_config
from tests.test_iac_e2e import ROSTER

N = 300  # alice's and carol's findings: ~500k characters of Markdown in one file


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    (tmp / "infra").mkdir()
    (tmp / "infra" / "users.tf").write_text("".join(
        f'resource "aws_iam_user" "alice_{i}" {{\n  name = "alice"\n'
        f'  tags = {{ owner = "carol@example.com" }}\n}}\n\n' for i in range(N)))
    cfg = write_config(tmp, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    assert run_cli("scan", "-c", str(cfg), "-q").returncode == 1
    return tmp, cfg


def _fingerprints(md: str) -> list[str]:
    return re.findall(r"fingerprint `([0-9a-f]{12})`", md)


def test_csv_bom_for_spreadsheets_and_nul_neutralised(scanned, tmp_path):
    tmp, cfg = scanned
    con = duckdb.connect(str(tmp / "residual.duckdb"))
    fp = con.execute("SELECT fingerprint FROM findings ORDER BY fingerprint LIMIT 1").fetchone()[0]
    con.execute("UPDATE findings SET title = ?, object_name = ? WHERE fingerprint = ?",
                ["cut\x00here", "\x00=HYPERLINK(\"http://evil\")", fp])
    con.close()
    plain = run_cli("report", "-c", str(cfg), "--format", "csv", "-o", str(tmp_path / "plain.csv"))
    bom = run_cli("report", "-c", str(cfg), "--format", "csv", "--bom", "-o", str(tmp_path / "bom.csv"))
    assert plain.returncode == bom.returncode == 0, plain.stderr + bom.stderr
    raw_plain, raw_bom = (tmp_path / "plain.csv").read_bytes(), (tmp_path / "bom.csv").read_bytes()
    assert raw_bom.startswith(b"\xef\xbb\xbf") and not raw_plain.startswith(b"\xef\xbb\xbf")
    assert raw_bom[3:] == raw_plain  # the mark and nothing else
    assert b"\x00" not in raw_plain
    rows = list(csv.DictReader(io.StringIO(raw_bom.decode("utf-8-sig"))))
    assert len(rows) == 2 * N and list(rows[0])[0] == "fingerprint"  # the BOM is not in the header
    row = next(r for r in rows if r["fingerprint"] == fp)
    assert row["title"] == "cut\ufffdhere"
    assert row["object_name"] == "\ufffd=HYPERLINK(\"http://evil\")"  # cannot start a formula
    # stdout too, and the option belongs to csv only
    out = run_cli("report", "-c", str(cfg), "--format", "csv", "--bom")
    assert out.returncode == 0 and out.stdout.startswith("\ufefffingerprint,")
    wrong = run_cli("report", "-c", str(cfg), "--format", "json", "--bom")
    assert wrong.returncode == 2 and "--bom: only for --format csv" in wrong.stderr


def test_markdown_split_per_leaver_each_file_under_an_issue_body(scanned, tmp_path):
    tmp, cfg = scanned
    whole = run_cli("report", "-c", str(cfg), "--format", "md").stdout
    assert len(whole) > 4 * BODY_LIMIT  # the single file would not fit one issue
    out = tmp_path / "tickets"
    p = run_cli("report", "-c", str(cfg), "--format", "md", "--split", "per-leaver", "-o", str(out))
    assert p.returncode == 0, p.stderr
    files = {f.name: f.read_text(encoding="utf-8") for f in out.glob("*.md")}
    assert all(len(text) < BODY_LIMIT for text in files.values()), \
        {n: len(t) for n, t in files.items() if len(t) >= BODY_LIMIT}
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in out.iterdir())
    alice = sorted(n for n in files if n.startswith("0001-alice-example.com"))
    carol = sorted(n for n in files if n.startswith("0002-carol-example.com"))
    assert len(alice) > 1 and len(carol) > 1 and "0001-alice-example.com.md" in alice
    # every finding of the single report is in exactly one file, under its own leaver
    assert sorted(fp for n in alice + carol for fp in _fingerprints(files[n])) == sorted(_fingerprints(whole))
    assert all(files[n].startswith("# alice@example.com: residual") for n in alice)
    assert all("@" not in n and not n.startswith(".") for n in files)
    # the index: the scan, what was not verified, every leaver with links to its files
    index = files["index.md"]
    assert "## Not verified" in index and "| alice@example.com | residual | 300 | 0 |" in index
    assert set(re.findall(r"\]\(([^)]+\.md)\)", index)) == set(files) - {"index.md"}
    # written again (a later scan): the folder's old files go, a foreign folder is refused
    (out / "0009-gone-example.com.md").write_text("stale")
    assert run_cli("report", "-c", str(cfg), "--format", "md", "--split", "per-leaver",
                   "-o", str(out)).returncode == 0
    assert not (out / "0009-gone-example.com.md").exists() and (out / "index.md").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.md").write_text("my notes")
    p = run_cli("report", "-c", str(cfg), "--format", "md", "--split", "per-leaver", "-o", str(foreign))
    assert p.returncode == 2 and (foreign / "notes.md").read_text() == "my notes"
    p = run_cli("report", "-c", str(cfg), "--format", "md", "--split", "per-leaver")
    assert p.returncode == 2 and "-o" in p.stderr
    p = run_cli("report", "-c", str(cfg), "--format", "csv", "--split", "per-leaver", "-o", str(tmp_path / "x"))
    assert p.returncode == 2


def test_pages_cut_an_entry_longer_than_a_file_and_repeat_a_table_header():
    table = ["| a | b |", "|---|---|"]
    blocks = [(["## T", "", *table, "| first | 1 |"], table)] + \
             [([f"| row {i} | {'x' * 300} |"], table) for i in range(40)] + [(["y" * 20_000], [])]
    pages = _pages("index", ["# Head", ""], blocks, 5000)
    assert len(pages) > 3 and all(len(t) < 5000 for t in pages.values())
    assert all(t.startswith("# Head") for t in pages.values())
    rows = [l for t in pages.values() for l in t.splitlines() if l.startswith("| row ")]
    assert len(rows) == 40  # no row lost, none cut
    assert all(t.count("| a | b |") == 1 for n, t in pages.items() if "| row " in t)
    assert any("cut here" in t for t in pages.values())


def _ids_and_links(page: str) -> tuple[list[str], set[str]]:
    """Every element's id, and every in-page link's target, as a browser parses them."""
    ids: list[str] = []
    links: set[str] = set()

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if a.get("id") is not None:
                ids.append(a["id"])
            if (a.get("href") or "").startswith("#"):
                links.add(a["href"][1:])

    Parser().feed(page)
    return ids, links


def test_html_ids_are_plain_and_the_filter_form_can_be_submitted(scanned, tmp_path):
    tmp, cfg = scanned
    page = run_cli("report", "-c", str(cfg), "--format", "html").stdout
    ids, targets = _ids_and_links(page)
    assert "rule-reference-recreates_leaver" in ids
    assert [i for i in ids if not re.fullmatch(r"[A-Za-z0-9_-]+", i)] == []
    assert len(ids) == len(set(ids))
    assert targets and targets <= set(ids)
    form = re.search(r'<form id="filters".*?</form>', page, re.S).group(0)
    assert '<button type="submit">' in form


def test_every_layer_has_an_html_title():
    assert set(LAYER_TITLES) == set(LAYERS)
    assert LAYER_TITLES["sessions"] != "sessions" and LAYER_TITLES["secrets"] != "secrets"

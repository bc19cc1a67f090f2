"""docs/report.schema.json: generated from the report's types (reports/schema.py), in sync
with them, and biting. Every JSON report the suite writes is validated against it by
tests/conftest.py (run_cli's output, files under a test's tmp_path)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from reports.schema import schema_text
from tests.conftest import run_cli, write_config
from tests.consumers import EMBEDDED, embedded_report_problems, report_problems
from tests.test_iac_e2e import ROSTER

ROOT = Path(__file__).resolve().parents[1]


def test_the_schema_file_is_what_the_report_types_give():
    assert (ROOT / "docs" / "report.schema.json").read_text() == schema_text(), \
        "regenerate: make report-schema"


def test_a_real_report_validates_and_the_schema_bites(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "users.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n')
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    assert run_cli("scan", "-c", str(cfg)).returncode == 1
    text = run_cli("report", "-c", str(cfg), "--format", "json").stdout  # validated by run_cli too
    report = json.loads(text)
    assert report["findings"] and report_problems(text) == []
    assert report["scan"]["started_at"].endswith("Z")
    ref = next(f for f in report["findings"] if f["rule"] == "reference.recreates_leaver")
    assert ref["evidence"]["terminated_at"] == "2026-11-01T00:00:00Z"  # was str(): "... 00:00:00+00:00"
    for breakage in (lambda r: r["scan"].__setitem__("started_at", "2026-11-21 12:00:00+00:00"),
                     lambda r: r["findings"][0].__setitem__("surprise", 1),
                     lambda r: r["findings"][0].__setitem__("severity", "severe"),
                     lambda r: r["findings"][0]["evidence"].__setitem__("at", "2026-03-01 12:00:00+00:00")):
        broken = copy.deepcopy(report)
        breakage(broken)
        assert report_problems(json.dumps(broken, indent=2)), breakage


def test_the_data_an_html_report_embeds_validates_too(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "users.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n')
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    assert run_cli("scan", "-c", str(cfg)).returncode == 1
    page = run_cli("report", "-c", str(cfg), "--format", "html").stdout  # validated by run_cli too
    assert EMBEDDED in page and embedded_report_problems(page) == []
    started = re.search(r'"started_at":"([^"]+)"', page).group(1)
    assert started.endswith("Z")
    broken = page.replace(f'"started_at":"{started}"', '"started_at":"2026-11-21 12:00:00+00:00"', 1)
    assert embedded_report_problems(broken)
    assert embedded_report_problems(page.replace('"schema":"residual/report/v1"', '"schema":"v0"', 1))

"""Shared test helpers: run the real CLI, pin "now", write configs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.consumers import embedded_report_problems, github_upload_problems, report_problems

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="session")
def _private_config_home(tmp_path_factory):
    """The fingerprint key lives in $XDG_CONFIG_HOME/residual, outside any inventory
    folder: for the tests, a directory of this session's, not the user's."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))


@pytest.fixture(autouse=True)
def _pinned_now(monkeypatch):
    monkeypatch.setenv("RESIDUAL_NOW", NOW.isoformat())
    # retries wait for nothing in tests
    from scanner.core import http
    monkeypatch.setattr(http, "sleep", lambda s: None)


_HANDLE_FIRST = re.compile(
    r"^(?:A[KS]IA[0-9A-Z]+|(?:key|token) id \d+(?:, SHA256:\S+)?|SHA256:\S+) \((.*)\)$")


def without_handle(name: str) -> str:
    """A finding's object name without the credential handle the engine puts first
    (``AKIA... (name)``, ``key id 7, SHA256:... (name)``): for tests that look findings up
    by the object's own name."""
    m = _HANDLE_FIRST.match(name or "")
    return m.group(1) if m else name


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real ``residual`` command in a subprocess."""
    e = {**os.environ, "RESIDUAL_NOW": NOW.isoformat(), **(env or {})}
    p = subprocess.run([sys.executable, "-m", "scanner.cli", *args], cwd=cwd, env=e,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode == 0 and p.stdout.startswith("{") and '"schema": "residual/report/v1"' in p.stdout[:200]:
        problems = report_problems(p.stdout)  # every JSON report a test has the CLI print
        assert not problems, f"residual {' '.join(args)}: the JSON report breaks its schema: {problems[:5]}"
    if p.returncode == 0 and "residual-data" in p.stdout:  # and the data an HTML report embeds
        problems = embedded_report_problems(p.stdout)
        assert not problems, f"residual {' '.join(args)}: the HTML's report data breaks its schema: {problems[:5]}"
    return p


def write_config(tmp: Path, body: dict, roster_rows: list[str] | None = None) -> Path:
    """A residual.yaml (and roster.csv if rows are given) in ``tmp``."""
    if roster_rows is not None:
        (tmp / "roster.csv").write_text(
            "id,name,email,kind,status,terminated_at,owner,aliases\n" + "\n".join(roster_rows) + "\n")
        body = {"roster": [{"csv": "roster.csv"}], **body}
    body = {"inventory": str(tmp / "residual.duckdb"), **body}
    path = tmp / "residual.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def _reports_written_pass_their_consumers(request):
    """Every JSON report a test writes under its tmp_path validates against
    docs/report.schema.json; every SARIF file, in the github profile, passes GitHub code
    scanning's upload constraints (tests/consumers.py): each result a file of the
    repository the run names (``originalUriBaseIds``), counts within the limits."""
    yield
    tmp = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if tmp is None:
        return
    for path in Path(tmp).rglob("*.json"):  # and every JSON report it writes
        with open(path, "rb") as fh:
            head = fh.read(200).decode("utf-8", "replace")
        if head.startswith("{") and '"schema": "residual/report/v1"' in head:
            problems = report_problems(path.read_text())
            assert not problems, f"{path}: the JSON report breaks its schema: {problems[:5]}"
    for path in Path(tmp).rglob("*.html"):  # the report data each HTML report embeds
        problems = embedded_report_problems(path.read_text(errors="replace"))
        assert not problems, f"{path}: the embedded report data breaks its schema: {problems[:5]}"
    for path in Path(tmp).rglob("*.sarif"):
        if path.name.endswith(".validation.sarif"):
            continue
        doc = json.loads(path.read_text())
        for run in doc.get("runs", []):
            if run.get("properties", {}).get("profile") != "github" or not run.get("results"):
                continue
            root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
            problems = github_upload_problems({"runs": [run]}, Path(root.removeprefix("file://")))
            assert not problems, f"{path}: {problems[:5]}"

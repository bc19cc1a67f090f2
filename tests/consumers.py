"""The reports' real consumers, as checks the tests call: Microsoft's SARIF Multitool,
GitHub code scanning's upload constraints, BloodHound CE's OpenGraph ingest schemas
(tests/data/bloodhound/, source noted there), py-ocsf-models for OCSF records.

Why here and not in each test: every test that writes a report of these formats runs the
same consumer checks, so a renderer change that one consumer would reject fails
wherever it shows. The Multitool is installed by ``make validators`` (part of ``make
test``); where it is absent its checks skip and say why.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
MULTITOOL = ROOT / ".tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"

# GitHub code scanning's SARIF upload limits (docs.github.com, "SARIF support for code
# scanning"): a file over these is rejected as a whole.
GITHUB_MAX_RESULTS_PER_RUN = 25_000
GITHUB_MAX_RUNS = 20
GITHUB_MAX_GZIP_BYTES = 10 * 1024 * 1024


def multitool_errors(path: Path, tmp: Path) -> list[str]:
    """The Multitool's ``validate`` errors for one SARIF file (its warnings left out)."""
    if not MULTITOOL.exists():
        pytest.skip("SARIF Multitool not installed (make validators): npm or the registry unavailable")
    out = tmp / f"{path.stem}.validation.sarif"
    p = subprocess.run([str(MULTITOOL), "validate", str(path), "-o", str(out), "--log", "ForceOverwrite"],
                       capture_output=True, text=True, timeout=300)
    assert out.exists(), p.stdout + p.stderr
    results = json.loads(out.read_text())["runs"][0].get("results", [])
    return [f"{r['ruleId']}: {r['message'].get('id')} {r.get('locations', [{}])[0]}"
            for r in results if r.get("level", "warning") == "error"]


def _base(run: dict[str, Any], base_id: str | None, repo: Path) -> Path:
    if not base_id:
        return repo
    uri = run.get("originalUriBaseIds", {}).get(base_id, {}).get("uri")
    assert uri, f"uriBaseId {base_id} not in originalUriBaseIds"
    return Path(unquote(urlparse(uri).path))


def github_upload_problems(doc: dict[str, Any], repo: Path) -> list[str]:
    """What GitHub code scanning would reject in this SARIF (its upload constraints), for
    a SARIF uploaded from the checkout at ``repo``: every result has a physical location
    naming a file that exists in the repository, runs and results within the limits."""
    problems = []
    size = len(gzip.compress(json.dumps(doc).encode()))
    if size > GITHUB_MAX_GZIP_BYTES:
        problems.append(f"{size} bytes gzipped (limit {GITHUB_MAX_GZIP_BYTES})")
    if len(doc["runs"]) > GITHUB_MAX_RUNS:
        problems.append(f"{len(doc['runs'])} runs (limit {GITHUB_MAX_RUNS})")
    repo = repo.resolve()
    for run in doc["runs"]:
        results = run.get("results", [])
        if len(results) > GITHUB_MAX_RESULTS_PER_RUN:
            problems.append(f"{len(results)} results in one run (limit {GITHUB_MAX_RESULTS_PER_RUN})")
        for r in results:
            phys = (r.get("locations") or [{}])[0].get("physicalLocation")
            if not phys:
                problems.append(f"{r['ruleId']}: no physicalLocation")
                continue
            art = phys["artifactLocation"]
            if urlparse(art["uri"]).scheme or art["uri"].startswith("/"):
                problems.append(f"{r['ruleId']}: {art['uri']} is not relative to the repository")
                continue
            path = (_base(run, art.get("uriBaseId"), repo) / unquote(art["uri"])).resolve()
            if repo not in path.parents or not path.is_file():
                problems.append(f"{r['ruleId']}: {art['uri']} is not a file of the repository")
            if "primaryLocationLineHash" not in r.get("partialFingerprints", {}):
                problems.append(f"{r['ruleId']}: no primaryLocationLineHash")
    return problems


def _bloodhound_schema(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((DATA / "bloodhound" / f"{name}.json").read_text()))


def bloodhound_problems(doc: dict[str, Any]) -> list[str]:
    """BloodHound CE's OpenGraph ingest schemas, applied as its upload does: metadata,
    then each node and each edge; plus what its loader checks beyond the schema (edges
    between nodes of the file, node ids unique)."""
    problems = [e.message for e in _bloodhound_schema("metadata").iter_errors(doc.get("metadata", {}))]
    node, edge = _bloodhound_schema("node"), _bloodhound_schema("edge")
    ids = [n.get("id") for n in doc["graph"]["nodes"]]
    if len(ids) != len(set(ids)):
        problems.append("duplicate node ids")
    for n in doc["graph"]["nodes"]:
        problems += [f"node {n.get('id')}: {e.message}" for e in node.iter_errors(n)]
    known = set(ids)
    for e in doc["graph"]["edges"]:
        problems += [f"edge {e.get('kind')}: {x.message}" for x in edge.iter_errors(e)]
        for end in ("start", "end"):
            if e[end].get("match_by", "id") == "id" and e[end]["value"] not in known:
                problems.append(f"edge {e['kind']}: {end} {e[end]['value']} is no node of the file")
    return problems


def ocsf_problems(events: list[dict[str, Any]]) -> list[str]:
    """py-ocsf-models' DetectionFinding model applied to every record."""
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding
    from pydantic import ValidationError

    problems = []
    for ev in events:
        try:
            DetectionFinding.model_validate(ev)
        except ValidationError as exc:
            problems.append(f"{ev.get('finding_info', {}).get('uid')}: {exc}")
    return problems


REPORT_SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
# how Python's str() writes a datetime: never in a report (RFC 3339 everywhere)
PY_DATETIME = re.compile(r'"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^"]*"')


def report_problems(text: str) -> list[str]:
    """docs/report.schema.json (JSON Schema 2020-12, formats checked) applied to a JSON
    report, plus: no time written the Python str() way anywhere, evidence included."""
    v = jsonschema.Draft202012Validator(REPORT_SCHEMA,
                                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{e.json_path}: {e.message[:200]}" for e in v.iter_errors(json.loads(text))]
    return problems + [f"not RFC 3339: {m}" for m in PY_DATETIME.findall(text)[:5]]


EMBEDDED = '<script type="application/json" id="residual-data">'


def embedded_report_problems(page: str) -> list[str]:
    """``report_problems`` for the report data an HTML report embeds (the same schema;
    a capped page's holds no findings), or [] when the page embeds none."""
    if EMBEDDED not in page:
        return []
    return report_problems(page.split(EMBEDDED, 1)[1].split("</script>", 1)[0])

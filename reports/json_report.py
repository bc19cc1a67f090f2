"""JSON report, schema residual/report/v1 (DESIGN.md)."""

from __future__ import annotations

import json
from typing import Any

from reports import renderer
from reports.data import build_report
from scanner.core.timeparse import json_default


@renderer("json")
def render_json(inv, scan_id: str, given: Any = None) -> str:
    return json.dumps(build_report(inv, scan_id), indent=2, sort_keys=False, default=json_default)

"""The layers of docs/design.md, read from the code's own imports.

``scanner/core`` is the floor: it imports nothing else of the project. A source
(``collectors/``) stands on the floor only: it never imports the scanner above it, a rule
or a report, so adding one never pulls the application into a collector (and the import
cycles of old cannot come back).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("scanner", "collectors", "rules", "reports", "fixtures")


def project_imports(folder: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{file: project modules it imports (module level and inside functions)}."""
    out: dict[str, set[str]] = {}
    for path in sorted((root / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.add("." * node.level + (node.module or ""))
        out[str(path.relative_to(root))] = {m for m in found if m.split(".")[0] in PROJECT
                                            or m.startswith(".")}
    return out


def test_core_imports_nothing_above_it():
    bad = {f: sorted(m for m in mods if not m.startswith("scanner.core"))
           for f, mods in project_imports("scanner/core").items()}
    assert {f: m for f, m in bad.items() if m} == {}


def test_sources_stand_on_the_floor_only():
    def allowed(m: str) -> bool:
        return m.startswith(("scanner.core", "collectors")) or m == "scanner"

    bad = {f: sorted(m for m in mods if not allowed(m))
           for f, mods in project_imports("collectors").items()}
    assert {f: m for f, m in bad.items() if m} == {}


def test_the_layer_check_sees_a_violation(tmp_path):
    """The near miss: a core module importing the engine, even inside a function, is seen."""
    core = tmp_path / "scanner" / "core"
    core.mkdir(parents=True)
    (core / "bad.py").write_text("def f():\n    from scanner.engine import run_rules\n")
    assert "scanner.engine" in project_imports("scanner/core", tmp_path)["scanner/core/bad.py"]

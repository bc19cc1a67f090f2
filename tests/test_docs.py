"""Docs that describe the code stay in sync with it."""

from __future__ import annotations

from pathlib import Path

from rules.base import all_rules
from scanner.cli.rules import rules_markdown
from scanner.core.store import TABLES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_rule_catalog_doc_is_current():
    catalog = sorted(all_rules().values(), key=lambda r: r.meta.id)
    assert (DOCS / "rules.md").read_text() == rules_markdown(catalog), \
        "regenerate: residual rules list --format md > docs/rules.md"


def test_schema_doc_names_every_table_and_column():
    text = (DOCS / "schema.md").read_text()
    for table in TABLES.values():
        assert f"## {table.name}" in text
        for name, _ in table.columns:
            assert f"| {name} |" in text, f"{table.name}.{name} missing from docs/schema.md"


def test_every_collector_documents_its_permissions():
    """Each source package names its least-permission document (PERMISSIONS in its
    __init__.py), and the document is there."""
    import sys

    from collectors.registry import collector_classes
    for name, cls in collector_classes().items():
        package = sys.modules[cls.__module__.rpartition(".")[0]]
        doc = getattr(package, "PERMISSIONS", None)
        assert doc, f"{package.__name__}: no PERMISSIONS declared"
        assert (DOCS.parent / doc).is_file(), f"{doc} missing (collector {name})"

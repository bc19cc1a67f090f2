"""The one discovery step (scanner.core.plugins, collectors.registry): what a source
package declares is found by being there, and a system nobody declares fails loudly
instead of landing in a guessed layer."""

from __future__ import annotations

import sys
import textwrap

import pytest

import collectors
from collectors import registry
from collectors.registry import UndeclaredSystem, layer_of
from reports import formats
from rules.base import all_rules
from scanner.core import plugins


def _clear_caches() -> None:
    plugins.modules.cache_clear()
    for fn in (registry.collector_classes, registry.roster_sources, registry.system_layers):
        fn.cache_clear()


def test_declared_systems_give_their_layer():
    assert layer_of("aws") == "cloud"
    assert layer_of("gitlab:gitlab.example.com") == "code-hosting"
    assert layer_of("roster") == "directory"
    assert layer_of("github", "actions_secret") == "ci-cd"  # CI secrets, whatever the host


def test_an_undeclared_system_fails_loudly():
    """Once, an unknown system silently became ``saas``: its findings sat in a layer
    whose verdict said nothing about them."""
    with pytest.raises(UndeclaredSystem, match="'nosuchsystem' is not declared"):
        layer_of("nosuchsystem")


def test_every_collector_layer_is_its_package_declaration():
    for name, cls in registry.collector_classes().items():
        package = sys.modules[cls.__module__.rpartition(".")[0]]
        declared = getattr(package, "SYSTEMS", None)
        assert declared, f"{package.__name__}: no SYSTEMS"
        assert cls.layer in declared.values(), f"{name}: layer {cls.layer} not declared"


def test_plugins_of_every_kind_are_found():
    assert {"aws", "github", "gitlab", "iac", "kubernetes", "okta", "scim"} <= set(registry.collector_classes())
    assert {"csv", "okta", "scim"} <= set(registry.roster_sources())
    assert {"json", "html", "sarif", "bloodhound"} <= set(formats())
    assert "credential.live_of_leaver" in all_rules()
    assert {"aws", "gitlab", "kubernetes", "okta"} <= set(registry.remediation_modules())


TINY_INIT = '''
"""A tiny source, written by a test."""
SYSTEMS = {"tinysys": "saas"}
PERMISSIONS = "docs/permissions/tiny.md"
'''
TINY_COLLECTOR = '''
from collectors.base import Collector
from collectors.tinysrc import SYSTEMS
from scanner.core.model import Account
from scanner.core.options import Option


class TinyCollector(Collector):
    name = "tiny"
    layer = SYSTEMS["tinysys"]
    options = {"url": Option(str, required=True)}

    def collect(self, sink, scope=None):
        with self.target(sink, self.config["url"]) as run:
            sink.emit(Account(system="tinysys", source="tinysys", native_id="u1", login="alice"))
'''
TINY_ROSTER = '''
from collectors.roster import roster_source
from scanner.core.options import Option


@roster_source("tiny", {"url": Option(str, required=True)})
def load_tiny(block, ctx):
    return []
'''
TINY_REMEDIATION = '''
def account_step(acc, suspended=False):
    return ("remove the tiny account", f"# tiny: remove {acc.login}", "")
'''


def test_a_new_source_package_is_found_without_edits_elsewhere(tmp_path, monkeypatch):
    """docs/new-source.md, verified: a folder with __init__.py, collector.py, roster.py
    and remediation.py is a source; nothing in scanner/, rules/ or reports/ lists it."""
    pkg = tmp_path / "tinysrc"
    pkg.mkdir()
    for name, text in (("__init__", TINY_INIT), ("collector", TINY_COLLECTOR),
                       ("roster", TINY_ROSTER), ("remediation", TINY_REMEDIATION)):
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.setattr(collectors, "__path__", [*collectors.__path__, str(tmp_path)])
    _clear_caches()
    try:
        assert registry.collector_classes()["tiny"].__name__ == "TinyCollector"
        assert registry.roster_sources()["tiny"].load.__name__ == "load_tiny"
        assert layer_of("tinysys") == "saas"
        assert registry.remediation_modules()["tinysys"].__name__ == "collectors.tinysrc.remediation"
    finally:
        monkeypatch.undo()
        for mod in [m for m in sys.modules if m.startswith("collectors.tinysrc")]:
            del sys.modules[mod]
        _clear_caches()
    # the near miss: without the folder, nothing of it is found
    assert "tiny" not in registry.collector_classes()
    with pytest.raises(UndeclaredSystem):
        layer_of("tinysys")


# --- declared attribute keys ------------------------------------------------------------


def test_every_attribute_key_a_reader_relies_on_is_declared():
    """Rules, plan, engine, resolve, correlation and reports read these keys: each must
    be declared by the record kind or by a source package (a typo in either is caught)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readers = [*root.glob("rules/*.py"), *root.glob("reports/*.py"),
               *root.glob("collectors/*/remediation.py"),
               *(root / "scanner" / n for n in ("plan.py", "engine.py", "resolve.py",
                                                  "correlate.py", "pipeline.py"))]
    declared = set().union(*registry.attribute_keys().values())
    read = {}
    for path in readers:
        for m in re.finditer(r'attributes(?:\.get\(|\[)\s*"(\w+)"|\ba\.get\("(\w+)"|\ba\["(\w+)"\]',
                             path.read_text(encoding="utf-8")):
            read.setdefault(next(g for g in m.groups() if g), path.name)
    assert len(read) > 40  # the scan above sees the readers
    assert {k: f for k, f in read.items() if k not in declared} == {}


def test_the_writer_counts_an_undeclared_attribute_key(tmp_path):
    from scanner.core.model import Account
    from scanner.core.store import Inventory, Sink

    with Inventory(tmp_path / "i.duckdb") as inv:
        sink = Sink(inv, inv.begin_scan("scan"), attribute_keys=registry.attribute_keys())
        sink.emit(Account(system="aws", source="aws:1", native_id="u", login="u",
                          attributes={"tags": {"owner": "bob"}}))  # declared by collectors.aws
        assert dict(sink.undeclared) == {}
        sink.emit(Account(system="aws", source="aws:1", native_id="v", login="v",
                          attributes={"ownr": "bob"}))  # a typo of a key: nobody reads it
        sink.flush()
        assert dict(sink.undeclared) == {("Account", "ownr"): 1}
        assert inv.count(Account, sink.scan_id) == 2  # the evidence is kept all the same


def test_the_attribute_keys_in_docs_schema_are_current():
    from pathlib import Path

    from scanner.schema_doc import DOC, current

    text = DOC.read_text(encoding="utf-8")
    assert current(text) == text, "docs/schema.md is stale: run python -m scanner.schema_doc"
    assert "`roster_status`" in text and "collectors.aws" in text
    assert Path(DOC).name == "schema.md"

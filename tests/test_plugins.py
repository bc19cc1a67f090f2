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

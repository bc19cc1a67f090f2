"""The collector registry: every ``Collector`` subclass in this package, by name.

Sources are discovered, not listed, so that adding a source is adding one folder:
every package ``collectors/<source>/`` is imported through its ``collector`` module and
its ``roster`` module (whichever it has).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import collectors
from collectors.base import Collector

_LOADED = False


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in pkgutil.iter_modules(collectors.__path__):
        if not mod.ispkg or mod.name.startswith("_"):
            continue
        for part in ("collector", "roster"):
            if importlib.util.find_spec(f"collectors.{mod.name}.{part}") is not None:
                importlib.import_module(f"collectors.{mod.name}.{part}")
    _LOADED = True


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def remediations() -> list[ModuleType]:
    """Each source package's ``remediation`` module (``collectors/<name>/remediation.py``):
    its ``SYSTEMS``, ``credential_step(c, acc)``, ``account_step(acc)`` and ``RULE_STEPS``
    (rule id -> plan builder), which ``scanner.plan`` consults before its own tables."""
    _load_all()
    out = []
    for mod in pkgutil.iter_modules(collectors.__path__):
        if mod.ispkg and importlib.util.find_spec(f"collectors.{mod.name}.remediation"):
            out.append(importlib.import_module(f"collectors.{mod.name}.remediation"))
    return out


def collector_classes() -> dict[str, type[Collector]]:
    _load_all()
    # only this package's collectors: a Collector subclass defined elsewhere (a test's)
    # must not leak into config validation or the docs check
    return {c.name: c for c in _subclasses(Collector)
            if c.name and c.__module__.startswith("collectors.")}

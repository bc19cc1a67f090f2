"""The collector registry: every ``Collector`` subclass in this package, by name.

Modules are discovered, not listed, so that adding a collector is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil

import collectors
from collectors.base import Collector

_LOADED = False


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in pkgutil.iter_modules(collectors.__path__):
        if mod.name in ("base", "registry") or mod.name.startswith("_"):
            continue
        importlib.import_module(f"collectors.{mod.name}")
    _LOADED = True


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def collector_classes() -> dict[str, type[Collector]]:
    _load_all()
    # only this package's collectors: a Collector subclass defined elsewhere (a test's)
    # must not leak into config validation or the docs check
    return {c.name: c for c in _subclasses(Collector)
            if c.name and c.__module__.startswith("collectors.")}

"""The one discovery step for plugins: collectors, roster sources, rules, report formats.

A plugin is an object carrying a marker attribute (``@rule`` sets ``fn.rule``,
``@renderer`` sets ``fn.report_format``, ``@roster_source`` sets ``fn.roster_source``; a
collector is a ``Collector`` subclass). Registration is not an import side effect into a
global table: ``marked`` imports the package's modules by name, then reads the markers
off what they define, in the order the modules and their definitions come. So a new
rule family, report format or source package is found by being there, and an import
order cannot hide one.

Modules are imported by dotted name (this module imports nothing of the project).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any


@cache
def modules(package: str, parts: tuple[str, ...] = ()) -> tuple[ModuleType, ...]:
    """The modules of ``package``, imported, in name order. With ``parts``: for each
    subpackage (a source folder), its modules of those names that exist, e.g.
    ``collectors.aws.collector`` and ``collectors.okta.roster`` for
    ``parts=("collector", "roster")``. Names starting with ``_`` are skipped."""
    pkg = importlib.import_module(package)
    out: list[ModuleType] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = f"{package}.{info.name}"
        if not parts:
            out.append(importlib.import_module(name))
            continue
        if not info.ispkg:
            continue
        out.append(importlib.import_module(name))  # the source package itself (its SYSTEMS)
        for part in parts:
            if importlib.util.find_spec(f"{name}.{part}") is not None:
                out.append(importlib.import_module(f"{name}.{part}"))
    return tuple(out)


def marked(package: str, attr: str, parts: tuple[str, ...] = ()) -> list[Any]:
    """Every object defined in the package's modules that carries ``attr`` (the
    marker's value), once, in discovery order."""
    out: list[Any] = []
    seen: set[int] = set()
    for mod in modules(package, parts):
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) != mod.__name__ or not hasattr(obj, attr):
                continue
            if id(obj) not in seen:
                seen.add(id(obj))
                out.append(getattr(obj, attr))
    return out

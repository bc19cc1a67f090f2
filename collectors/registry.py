"""What the source packages declare, found by the one discovery step (scanner.core.plugins).

Every package ``collectors/<source>/`` is a source. Its ``__init__.py`` declares
``SYSTEMS`` (the system names its records carry -> the verdict layer of each); its
``collector.py`` holds a ``Collector`` subclass, its ``roster.py`` (or collector.py) a
``@roster_source`` loader, its ``remediation.py`` the revocation steps ``plan`` prints.
Adding a source is adding one folder: nothing here or in scanner/, rules/, reports/
lists sources.
"""

from __future__ import annotations

import sys
from functools import cache
from types import ModuleType

from collectors.base import Collector
from collectors.roster import ROSTER_SYSTEMS, RosterSource
from scanner.core import plugins
from scanner.core.model import RECORD_TYPES

PACKAGE = "collectors"
PARTS = ("collector", "roster", "remediation")
# CI secrets and variables are ci-cd whatever the host that keeps them.
CI_KINDS = {"ci_secret", "ci_variable", "actions_secret", "pipeline_schedule", "runner"}


class UndeclaredSystem(LookupError):
    """A record names a system no source package declares in its SYSTEMS: its findings
    would land in a guessed layer (once, silently, ``saas``), so this is an error."""


def source_modules() -> tuple[ModuleType, ...]:
    return plugins.modules(PACKAGE, PARTS)


@cache
def collector_classes() -> dict[str, type[Collector]]:
    """Every collector of the source packages, by name."""
    out: dict[str, type[Collector]] = {}
    for mod in source_modules():
        for obj in vars(mod).values():
            if (isinstance(obj, type) and issubclass(obj, Collector) and obj.name
                    and obj.__module__ == mod.__name__):
                out[obj.name] = obj
    return out


@cache
def roster_sources() -> dict[str, RosterSource]:
    """Every roster source (``roster:`` kinds in the config), by name."""
    return {src.name: src for src in plugins.marked(PACKAGE, "roster_source", PARTS)}


@cache
def system_layers() -> dict[str, str]:
    """system name -> verdict layer, from every source package's ``SYSTEMS``."""
    out = dict(ROSTER_SYSTEMS)
    for mod in source_modules():
        if mod.__name__.count(".") == 1:  # the package itself
            for system, layer in (getattr(mod, "SYSTEMS", None) or {}).items():
                if out.setdefault(system, layer) != layer:
                    raise ValueError(f"{mod.__name__}: system {system} declared twice, "
                                     f"as {out[system]} and {layer}")
    return out


def remediation_modules() -> dict[str, ModuleType]:
    """system name -> the remediation module of the package that declares it."""
    out: dict[str, ModuleType] = {}
    for mod in source_modules():
        if mod.__name__.endswith(".remediation"):
            package = sys.modules[mod.__name__.rpartition(".")[0]]
            for system in getattr(package, "SYSTEMS", None) or {}:
                out[system] = mod
    return out


@cache
def attribute_keys() -> dict[str, frozenset[str]]:
    """record kind -> every attribute key declared for it: the scanner's own (the record
    class's ATTRIBUTES) and each source package's (ATTRIBUTES in its __init__.py)."""
    out: dict[str, set[str]] = {cls.__name__: set(cls.ATTRIBUTES) for cls in RECORD_TYPES}
    for mod in source_modules():
        if mod.__name__.count(".") == 1:
            for kind, keys in (getattr(mod, "ATTRIBUTES", None) or {}).items():
                if kind not in out:
                    raise ValueError(f"{mod.__name__}: ATTRIBUTES names {kind}, not a record kind")
                out[kind].update(keys)
    return {kind: frozenset(keys) for kind, keys in out.items()}


def declared_attributes() -> dict[str, dict[str, tuple[str, ...]]]:
    """record kind -> {declarer: its keys}, for docs/schema.md."""
    out: dict[str, dict[str, tuple[str, ...]]] = {cls.__name__: {} for cls in RECORD_TYPES}
    for cls in RECORD_TYPES:
        if cls.ATTRIBUTES:
            out[cls.__name__]["scanner"] = tuple(sorted(cls.ATTRIBUTES))
    for mod in source_modules():
        if mod.__name__.count(".") == 1:
            for kind, keys in (getattr(mod, "ATTRIBUTES", None) or {}).items():
                out[kind][mod.__name__] = tuple(sorted(keys))
    return out


def layer_of(system: str, kind: str = "") -> str:
    """The layer a record belongs to; an undeclared system raises UndeclaredSystem."""
    if kind in CI_KINDS:
        return "ci-cd"
    base = system.split(":", 1)[0]
    try:
        return system_layers()[base]
    except KeyError:
        raise UndeclaredSystem(
            f"system {base!r} is not declared by any source package (add it to SYSTEMS in "
            f"collectors/<source>/__init__.py)") from None

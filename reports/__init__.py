"""Report renderers. Each format is one function ``(inventory, scan_id, config) -> str``
registered with ``@renderer("name")``; renderers only read the inventory."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

RENDERERS: dict[str, Callable[..., str]] = {}
# Optional: a format whose output can be large registers a generator of text chunks too
# (``@streamer("html")``), which ``residual report -o FILE`` writes as it comes.
STREAMERS: dict[str, Callable[..., Any]] = {}


def renderer(name: str):
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        RENDERERS[name] = fn
        return fn
    return register


def streamer(name: str):
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        STREAMERS[name] = fn
        return fn
    return register


def _load_all() -> None:
    import reports
    for mod in pkgutil.iter_modules(reports.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"reports.{mod.name}")


def render(fmt: str, inv: Any, scan_id: str, config: Any, **options: Any) -> str:
    """``options``: a format's own keyword options (``sarif_profile``, ``bom``), given
    only when set, so that a format without options is called as before."""
    return RENDERERS[fmt](inv, scan_id, config, **options)


_load_all()

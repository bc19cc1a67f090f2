"""Report formats. Each format is one function ``(inventory, scan_id, given) -> str``
marked ``@renderer("name")``; renderers only read the inventory (through its public read
API) and ``given``, a small ``ReportInput``, never the application's whole config. A
format whose output can be large marks a generator of text chunks too (``@streamer("html")``), which
``residual report -o FILE`` writes as it comes. ``formats()`` and ``streamers()`` find
them (the discovery step, scanner.core.plugins): a new format is a new module here.
A format that can be cut into several files marks a function returning ``{file name:
text}`` (``@splitter("md")``, ``residual report --split per-leaver -o DIR``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable

import yaml

from scanner.core import plugins
from scanner.core.options import Policy, redact


@dataclass(frozen=True)
class ReportInput:
    """What a report may know besides the inventory: the policy, the waivers file, and
    the configuration as the HTML appendix shows it (redacted, with its digest, which
    the report compares with the one the scan ran with)."""

    policy: Policy = field(default_factory=Policy)
    waivers: Path | None = None
    config_digest: str | None = None
    config_text: str = ""  # the config as YAML, secret values redacted
    # the configured local IaC trees: (their records' source "iac:<configured path>",
    # the tree's folder resolved), in config order; SARIF places findings in them
    iac_roots: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> "ReportInput":
        return cls(policy=config.policy, waivers=config.waivers, config_digest=config.digest(),
                   config_text=config.redact_text(yaml.safe_dump(redact(config.raw), sort_keys=False)),
                   iac_roots=iac_roots(config))


def iac_roots(config: Any) -> tuple[tuple[str, Path], ...]:
    """The configured local IaC trees (``collectors.iac[].path``), in config order."""
    base = Path(getattr(config, "base_dir", "."))
    out = []
    for entry in (getattr(config, "collectors", {}) or {}).get("iac", []) or []:
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        root = Path(str(entry["path"])).expanduser()
        out.append((f"iac:{entry['path']}", (root if root.is_absolute() else base / root).resolve()))
    return tuple(out)


def renderer(name: str):
    def mark(fn: Callable[..., str]) -> Callable[..., str]:
        fn.report_format = name  # type: ignore[attr-defined]
        return fn
    return mark


def streamer(name: str):
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.report_stream = name  # type: ignore[attr-defined]
        return fn
    return mark


def splitter(name: str):
    def mark(fn: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
        fn.report_split = name  # type: ignore[attr-defined]
        return fn
    return mark


def _by_name(attr: str) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for mod in plugins.modules("reports"):
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) == mod.__name__ and hasattr(obj, attr):
                out[getattr(obj, attr)] = obj
    return out


@cache
def formats() -> dict[str, Callable[..., str]]:
    """Every report format, by name."""
    return _by_name("report_format")


@cache
def streamers() -> dict[str, Callable[..., Any]]:
    """The formats that can also be written chunk by chunk, by name."""
    return _by_name("report_stream")


@cache
def splitters() -> dict[str, Callable[..., dict[str, str]]]:
    """The formats that can be written as several files (``split=``), by name."""
    return _by_name("report_split")


def render(fmt: str, inv: Any, scan_id: str, given: ReportInput | None = None, **options: Any) -> str:
    """``options``: a format's own keyword options (``sarif_profile``, ``bom``), given
    only when set, so that a format without options is called as before."""
    return formats()[fmt](inv, scan_id, given or ReportInput(), **options)

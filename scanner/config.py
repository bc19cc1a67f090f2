"""Configuration: YAML with ``${ENV}`` expansion, validated before anything is written.

Why so strict: a typo in a scanner's config silently narrows what it checks, and a
narrower scan that reports "clean" is the failure this tool exists to prevent. So an
unknown key, a wrong type or a missing file is a one-line error naming the file and the
key (exit 2), and never the value: values may be tokens.

Each collector declares its own keys (``Collector.options``); this module only knows the
top level, so adding a collector never touches this file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from collectors.registry import collector_classes, roster_sources
from scanner.core.errors import ConfigError
from scanner.core.model import SEVERITIES
from scanner.core.options import SECRET_KEY_PATTERN, Option, Policy, redact
from scanner.core.secrets import default_key_path

# options that name a file or directory: ${ENV} expands in them and in secret ones only
PATH_KEYS = {"inventory", "fingerprint_key", "cache_dir", "waivers", "path", "csv", "kubeconfig",
             "kubeconfigs", "roster_file"}

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Config:
    path: Path
    inventory: Path
    roster: list[dict[str, Any]]
    policy: Policy
    collectors: dict[str, list[dict[str, Any]]]
    fingerprint_key: Path
    cache_dir: Path
    waivers: Path | None = None
    network: dict[str, Any] = field(default_factory=lambda: {k: o.default for k, o in NETWORK_OPTIONS.items()})
    raw: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # expanded secret values, for redaction

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def digest(self) -> str:
        """SHA-256 of the config with secret values redacted (for the report appendix)."""
        return hashlib.sha256(json.dumps(redact(self.raw), sort_keys=True, default=str)
                              .encode()).hexdigest()

    def redact_text(self, text: str) -> str:
        for s in self.secrets:
            if s and len(s) >= 4:
                text = text.replace(s, "***")
        return text


TOP_LEVEL = {"inventory", "roster", "policy", "collectors", "fingerprint_key", "cache_dir",
             "waivers", "network"}
# How patient every collector is with its API (collectors.base.CollectorContext).
NETWORK_OPTIONS = {"timeout_s": Option((int, float), default=30.0),
                   "max_retries": Option(int, default=4),
                   "max_pages": Option(int, default=10_000),
                   "max_wait_s": Option((int, float), default=3600.0)}
POLICY_KEYS = {"unused_after_days": int, "rotate_after_days": int, "fail_on": str,
               "removal_sla_hours": int, "max_secret_days": int,
               "agent_name_pattern": str}


def _type_names(types: tuple[type, ...] | type) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
             dict: "a mapping", float: "a number", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _kind(value: Any) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean", list: "a list",
            dict: "a mapping", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def expand_env(value: Any, where: str, file: Path, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}" if where else str(k), file, secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]", file, secrets) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value and _ENV_PATTERN.search(value):
        key = re.sub(r"(\[\d+\])+$", "", where.rsplit(".", 1)[-1])
        if not (SECRET_KEY_PATTERN.search(key) or key in PATH_KEYS):
            # any variable of the environment would otherwise be copied into the
            # inventory and the reports (a name, a URL, a label)
            raise ConfigError(f"{file}: {where}: ${{...}} expands only in secret options "
                              f"(tokens, passwords, keys) and file paths")

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{file}: {where}: environment variable {name} is not set")
        out = _ENV_PATTERN.sub(sub, value)
        if SECRET_KEY_PATTERN.search(where.rsplit(".", 1)[-1]):
            secrets.append(out)
        return out
    if isinstance(value, str) and SECRET_KEY_PATTERN.search(where.rsplit(".", 1)[-1]):
        secrets.append(value)
    return value


def check_block(block: Any, options: dict[str, Option], where: str, file: Path) -> dict[str, Any]:
    """Validate one collector or roster block against its declared options; fill defaults."""
    if not isinstance(block, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping, got {_kind(block)}")
    for key in block:
        if key not in options:
            known = ", ".join(sorted(options))
            raise ConfigError(f"{file}: {where}.{key}: unknown key (known: {known})")
    out: dict[str, Any] = {}
    for key, opt in options.items():
        if key not in block or block[key] is None:
            if opt.required:
                raise ConfigError(f"{file}: {where}.{key}: required key is missing")
            out[key] = list(opt.default) if isinstance(opt.default, list) else opt.default
            continue
        value = block[key]
        types = opt.types if isinstance(opt.types, tuple) else (opt.types,)
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"{file}: {where}.{key}: expected {_type_names(types)}, got a boolean")
        if not isinstance(value, types):
            raise ConfigError(f"{file}: {where}.{key}: expected {_type_names(types)}, got {_kind(value)}")
        if opt.item_type is not None and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, opt.item_type):
                    raise ConfigError(f"{file}: {where}.{key}[{i}]: expected "
                                      f"{_type_names(opt.item_type)}, got {_kind(item)}")
        if opt.choices is not None and value not in opt.choices:
            raise ConfigError(f"{file}: {where}.{key}: expected one of "
                              f"{', '.join(map(str, opt.choices))}")
        out[key] = value
    return out


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, expand and validate a config file. Raises ConfigError with a one-line message."""
    classes = collector_classes()
    sources = roster_sources()
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"{file}: config file not found")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(f"{file}: {where}: not valid YAML") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc.__class__.__name__}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: top level: expected a mapping, got {_kind(raw)}")
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{file}: {key}: unknown key (known: {', '.join(sorted(TOP_LEVEL))})")
    secrets: list[str] = []
    data = expand_env(raw, "", file, secrets)
    base = file.parent

    def rel(p: Any, key: str) -> Path:
        if not isinstance(p, str):
            raise ConfigError(f"{file}: {key}: expected a string, got {_kind(p)}")
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else base / q

    inventory = rel(data.get("inventory", "residual.duckdb"), "inventory")
    policy_raw = data.get("policy") or {}
    if not isinstance(policy_raw, dict):
        raise ConfigError(f"{file}: policy: expected a mapping, got {_kind(policy_raw)}")
    policy = Policy()
    for key, value in policy_raw.items():
        if key not in POLICY_KEYS:
            raise ConfigError(f"{file}: policy.{key}: unknown key (known: {', '.join(sorted(POLICY_KEYS))})")
        if not isinstance(value, POLICY_KEYS[key]) or isinstance(value, bool):
            raise ConfigError(f"{file}: policy.{key}: expected {_type_names(POLICY_KEYS[key])}, got {_kind(value)}")
        setattr(policy, key, value)
    if policy.fail_on not in SEVERITIES:
        raise ConfigError(f"{file}: policy.fail_on: expected one of {', '.join(SEVERITIES)}")
    for key in ("unused_after_days", "rotate_after_days", "removal_sla_hours"):
        if getattr(policy, key) < 1:
            raise ConfigError(f"{file}: policy.{key}: expected a positive integer")
    try:
        re.compile(policy.agent_name_pattern)
    except re.error as exc:
        raise ConfigError(f"{file}: policy.agent_name_pattern: not a valid regular expression ({exc})") from None

    roster_raw = data.get("roster") or []
    if not isinstance(roster_raw, list):
        raise ConfigError(f"{file}: roster: expected a list, got {_kind(roster_raw)}")
    roster = []
    for i, entry in enumerate(roster_raw):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{file}: roster[{i}]: expected one of "
                              f"{', '.join(sorted(sources))} as a single key")
        (kind, block), = entry.items()
        if kind not in sources:
            raise ConfigError(f"{file}: roster[{i}].{kind}: unknown roster source "
                              f"(known: {', '.join(sorted(sources))})")
        src = sources[kind]
        if isinstance(block, str) and src.shorthand:
            block = {src.shorthand: block}
        checked = check_block(block, src.options, f"roster[{i}].{kind}", file)
        roster.append({"kind": kind, **checked})

    collectors_raw = data.get("collectors") or {}
    if not isinstance(collectors_raw, dict):
        raise ConfigError(f"{file}: collectors: expected a mapping, got {_kind(collectors_raw)}")
    collectors: dict[str, list[dict[str, Any]]] = {}
    for name, blocks in collectors_raw.items():
        if name not in classes:
            raise ConfigError(f"{file}: collectors.{name}: unknown collector "
                              f"(known: {', '.join(sorted(classes))})")
        if blocks is None:
            blocks = []
        if isinstance(blocks, dict):
            blocks = [blocks]
        if not isinstance(blocks, list):
            raise ConfigError(f"{file}: collectors.{name}: expected a list, got {_kind(blocks)}")
        collectors[name] = [check_block(b, classes[name].options, f"collectors.{name}[{i}]", file)
                            for i, b in enumerate(blocks)]
        for i, b in enumerate(collectors[name]):  # rules across keys ("one of a, b, c")
            problem = classes[name].check_config(b)
            if problem:
                raise ConfigError(f"{file}: collectors.{name}[{i}].{problem}")

    fingerprint_key = rel(data["fingerprint_key"], "fingerprint_key") if data.get("fingerprint_key") \
        else default_key_path()
    cache_dir = rel(data["cache_dir"], "cache_dir") if data.get("cache_dir") \
        else inventory.with_name(inventory.name + ".cache")
    waivers = rel(data["waivers"], "waivers") if data.get("waivers") else None
    network = check_block(data.get("network") or {}, NETWORK_OPTIONS, "network", file)
    for key in ("timeout_s", "max_pages", "max_wait_s"):
        if network[key] <= 0:
            raise ConfigError(f"{file}: network.{key}: expected a positive number")
    if not 0 <= network["max_retries"] <= 20:
        raise ConfigError(f"{file}: network.max_retries: expected 0 to 20")
    return Config(path=file, inventory=inventory, roster=roster, policy=policy,
                  collectors=collectors, fingerprint_key=fingerprint_key, cache_dir=cache_dir,
                  waivers=waivers, network=network, raw=raw, secrets=secrets)

"""The config contract a plugin declares: ``Option`` describes one key of its block;
``Policy`` is the ``policy:`` block rules read; ``redact`` hides secret-looking values
before anything is shown or hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


SECRET_KEY_PATTERN = re.compile(r"(token|password|secret|private_key|api_key|credential|(^|_)key$|(^|_)jwt$)", re.I)


@dataclass(frozen=True)
class Option:
    """One key of a config block: its type(s), whether it is required, its default."""

    types: tuple[type, ...] | type
    required: bool = False
    default: Any = None
    item_type: type | tuple[type, ...] | None = None  # for lists
    choices: tuple[Any, ...] | None = None
    secret: bool = False


def redact(value: Any, key: str = "") -> Any:
    """A copy of a config tree with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if key and SECRET_KEY_PATTERN.search(key) and value not in (None, ""):
        return "***"
    return value


# What marks an account, app or key as an AI agent by its name or description
# (docs/agents.md); a tag ``kind: agent`` or a roster ``kind: agent`` marks it too.
AGENT_NAME_PATTERN = r"(?i)(?<![a-z])(ai[-_ ]?agent|agent|mcp|copilot|assistant|llm)s?(?![a-z])"


@dataclass
class Policy:
    """The ``policy:`` block: how old is too old, and what fails a scan."""

    unused_after_days: int = 45
    rotate_after_days: int = 90
    fail_on: str = "high"
    removal_sla_hours: int = 24  # `residual evidence`: termination to removal, per item
    agent_name_pattern: str = AGENT_NAME_PATTERN
    max_secret_days: int = 730  # the longest an app secret or certificate may be valid for

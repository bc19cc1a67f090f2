"""The remediation contract: what a source's ``remediation.py`` gives ``residual plan``.

A source package may have a ``remediation.py`` with any of:
- ``credential_step(c, acc)``: (action, command, note) that revokes credential ``c``;
- ``account_step(acc, suspended)``: the step that disables or removes account ``acc``;
- ``owner_step(acc, finding)``: the step that records a new owner where the source keeps
  one (a tag, an annotation);
- ``rotate_step(c, acc)`` / ``no_expiry_step(c)``: a source's own way to rotate;
- ``ci_secret_step(finding, resource)``: rotating a shared CI secret it keeps;
- ``RULE_STEPS``: rule id -> builder ``(finding, objects) -> (phase, action, command,
  note)`` (or a list of them) for the rules about its own objects.
Each returns None where it has no exact step; scanner/plan.py then falls back to words.
The helpers below are shared by every source's steps (one copy each).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

from scanner.core.model import Account, Credential, Finding, Resource

Builder = Callable[[Finding, "Objects"], Any]  # (phase, action, command, note), or a list of them


@dataclass
class Objects:
    """The records a finding's step needs, from the same scan. ``revoke`` is the plan's
    revocation step for a finding (a builder that must serve dependants first, like a
    secret still in use, gives its own step and then this one)."""

    leavers: set[str] = field(default_factory=set)  # identity ids terminated or suspended
    credentials: dict[str, Credential] = field(default_factory=dict)  # by node and by uid
    accounts: dict[str, Account] = field(default_factory=dict)  # by node and by uid
    resources: dict[str, Resource] = field(default_factory=dict)  # by node and by uid
    revoke: Callable[[Finding, "Objects"], tuple[int, str, str, str]] | None = None

    def add(self, rec: Any) -> None:
        target = {Credential: self.credentials, Account: self.accounts,
                  Resource: self.resources}[type(rec)]
        target[rec.node] = rec
        target[rec.uid] = rec


def q(s: Any) -> str:
    """Shell-quoted: names in commands come from the inventory, hence from the source."""
    return shlex.quote(str(s))


def tail(native_id: str, sep: str = ":") -> str:
    return native_id.rsplit(sep, 1)[-1]


def after_pipe(uid: str | None) -> str:
    """The native id inside a uid (``source|native_id``)."""
    return (uid or "").split("|", 1)[-1]


def cred_of(f: Finding, objs: Objects) -> tuple[Credential | None, Account | None]:
    """The credential a finding is about (its subject, or the one its evidence names)
    and the account holding it."""
    c = objs.credentials.get(f.subject) or objs.credentials.get(f.evidence.get("credential") or "")
    acc = objs.accounts.get(c.holder) if c and c.holder else None
    return c, acc

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
from urllib.parse import quote

from scanner.core.model import Account, Credential, Finding, Resource
from scanner.core.terminal import printable

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


# Every estate value reaches a plan through one of the helpers below: the plan is run
# with an admin's credentials, and the values come from payloads, files and repositories
# that whoever residual scans controls (a deploy key's title, a SCIM id, a file path with
# a newline). tests/test_attack_surface_plan.py renders hostile values and runs the plan.


def cm(s: Any) -> str:
    """Text for a comment line: no control character (a newline would end the comment
    and start a command; an escape sequence or a carriage return would rewrite what the
    reviewer sees)."""
    return printable(s)


def q(s: Any) -> str:
    """One shell word. A control character becomes ``?`` here too: quoting would make it
    inert for the shell, not for the terminal of whoever reviews the plan; a step whose
    value was changed names no real object and fails instead."""
    return shlex.quote(cm(s))


def enc(part: Any) -> str:
    """One URL path segment, percent-encoded (a GitLab path as the API takes it in place
    of a numeric id: ``acme%2Fplatform``). Only ``[A-Za-z0-9_.~%-]`` remain, so it is
    inert inside double quotes; a segment of dots is encoded too (no ``..`` traversal)."""
    out = quote(str(part), safe="")
    return out.replace(".", "%2E") if set(out) <= {"."} else out


def arn_name(arn: str) -> str:
    """The last segment of an ARN (a role's or user's name)."""
    return arn.rsplit("/", 1)[-1]


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

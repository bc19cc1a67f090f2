"""The session revoker: the one part of residual that writes to a provider (issue 20).

Why it exists: disabling a directory account does not end what the person already holds.
Okta sessions and refresh tokens, Slack sessions and assumed-role credentials (up to
12-36 hours) keep working. When an identity becomes terminated or suspended, the
revokers end those sessions at once. Sessions only: standing credentials (keys, tokens,
memberships) stay in ``residual plan`` for a person to approve.

How it stays safe:
- opt-in twice: a source revokes only when its config block has a ``revoke:`` block (the
  write credentials, never the read ones), and only with ``--apply`` (default: a dry run
  that sends nothing and prints what it would do);
- every write is a ``RevokeAction`` described before it is sent, and journaled in the
  inventory (``revocations``: who, what, when, the provider's answer) before and after;
- every action is idempotent (ending sessions that are already ended is a no-op), so a
  run that crashed resumes from the journal: the steps answered ``ok`` are not sent
  again, the one that was in flight is sent again, the rest follow;
- afterwards a targeted re-verify (``verify --live`` of the identity) says whether
  anything is left, and its verdict is journaled too.

A source implements one class per system in ``collectors/<name>/revoke.py``, decorated
with ``@register_revoker``. ``tests/test_readonly_writes.py`` proves that no other module sends
a write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import json
import logging
import pkgutil
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Protocol

import collectors
from scanner.core.errors import safe_error
from scanner.core.model import Account, Identity
from scanner.core.options import Option
from scanner.core.store import Inventory
from scanner.core.timeparse import json_default

log = logging.getLogger("residual.revoke")

# Which systems' actions go first: the identity providers (they mint new sessions in
# every other app), then SaaS, then cloud roles.
SYSTEM_ORDER = {"okta": 0, "entra": 0, "google_workspace": 0, "slack": 1, "aws": 2}


@dataclass(frozen=True)
class RevokeAction:
    """One write, described before it is sent."""

    system: str  # "okta" | "entra" | "google_workspace" | "slack" | "aws"
    source: str  # the collector's source label (e.g. "entra:contoso")
    identity: str  # roster identity id
    account: str  # account uid the action is about
    verb: str  # "revoke_sessions", "sign_out", "session_reset", "revoke_older_sessions"
    target: str  # provider-side id (user id, role name)
    description: str  # one human line for the dry run

    @property
    def key(self) -> str:
        """Stable across runs: what makes two actions the same step."""
        text = "|".join((self.system, self.source, self.identity, self.account, self.verb, self.target))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class RevokeResult:
    action: RevokeAction
    ok: bool
    status: int | None  # HTTP status or None
    detail: str  # provider's answer, through safe_error (no secrets)


@dataclass
class RevokeContext:
    """What a revoker gets besides its ``revoke:`` block.

    ``read_config``: the source's read block without its secret keys and without the
    ``revoke`` block (where the API is: ``domain``, ``base_url``, ``endpoint_url``...);
    ``now``: the run's start, the same on resume (the AWS deny is dated by it);
    ``base_dir``: the config file's folder, which relative paths in either block (a key
    file) are read from, as the collectors read them."""

    system: str
    read_config: dict[str, Any]
    now: datetime
    timeout_s: float = 30.0
    max_retries: int = 4
    base_dir: Path = Path(".")


class SessionRevoker(Protocol):
    system: ClassVar[str]

    def __init__(self, revoke_config: dict, context: Any) -> None: ...  # the `revoke:` block

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]: ...  # pure

    def apply(self, action: RevokeAction) -> RevokeResult: ...  # idempotent


# --- the registry -------------------------------------------------------------------------

REVOKERS: dict[str, type] = {}


def register_revoker(cls: type) -> type:
    """Class decorator: ``cls.system`` is revoked by ``cls``; ``cls.options`` are the keys
    its ``revoke:`` block accepts."""
    if not getattr(cls, "system", ""):
        raise TypeError(f"{cls.__name__}: a revoker names its system")
    REVOKERS[cls.system] = cls
    return cls


def revoker_classes() -> dict[str, type]:
    """Every revoker, found by one explicit discovery step: ``collectors/<source>/revoke.py``."""
    for mod in pkgutil.iter_modules(collectors.__path__):
        if mod.ispkg and importlib.util.find_spec(f"collectors.{mod.name}.revoke") is not None:
            importlib.import_module(f"collectors.{mod.name}.revoke")
    return dict(REVOKERS)


class RevokeRefused(Exception):
    """The revoker cannot run (nothing configured, identity not a leaver); one line."""


class _Answer(Exception):
    pass


def provider_answer(text: str) -> str:
    """A provider's answer as one line with anything credential-like redacted (the same
    redaction as ``safe_error``), for ``RevokeResult.detail``."""
    return safe_error(_Answer(text))[len("_Answer: "):] if text else ""


def revoke_option() -> Option:
    """The ``revoke:`` key a collector with a revoker declares (checked by its revoker)."""
    return Option(dict)


# --- what the identity holds ------------------------------------------------------------------


def subject_accounts(inv: Inventory, scan_id: str, identity: str) -> list[Account]:
    """The identity's own accounts in a scan, and the roles she could assume: roles whose
    trust policy names one of her accounts, and roles CloudTrail saw her assume (marked
    ``attributes["assumable_via"]``). A role trusting a whole account (``:root``) is not
    counted as hers: every principal of that account could assume it."""
    own = inv.load(Account, scan_id, "concat(source, '|', native_id) IN (SELECT account FROM links "
                   "WHERE scan_id = ? AND identity = ? AND relation = 'is')", [scan_id, identity])
    handles = {a.native_id for a in own} | {a.uid for a in own}
    if not handles:
        return own
    principals = sorted(handles)
    marks = ", ".join("?" * len(principals))
    rows = inv.query(f"SELECT resource, principal, system FROM grants WHERE scan_id = ? AND via = 'trust' "
                     f"AND principal IN ({marks})", [scan_id, *principals])
    own_uids = {a.uid for a in own}
    mine = [a.uid for a in own]
    acts = inv.query("SELECT attributes FROM activities WHERE scan_id = ? AND action = 'AssumeRole' "
                     f"AND subject_account IN ({', '.join('?' * len(mine))})", [scan_id, *mine])
    via: dict[str, tuple[str, str]] = {res: (system, f"trust:{p}") for res, p, system in rows}
    for (attrs,) in acts:
        a = json.loads(attrs or "{}") or {}
        if a.get("role_uid"):
            via.setdefault(a["role_uid"], ("aws", "assumed (CloudTrail)"))
    out = list(own)
    roles = {r.uid: r for r in inv.load(Account, scan_id, "kind = 'role'")}
    for uid, (system, how) in sorted(via.items()):
        if uid in own_uids or "|" not in uid:
            continue
        # a targeted verify keeps the trust grant naming her but not every role record
        source, native = uid.split("|", 1)
        role = roles.get(uid) or Account(system=system, source=source, native_id=native,
                                         login=native.rsplit("/", 1)[-1], kind="role")
        out.append(dataclasses.replace(role, attributes={**role.attributes, "assumable_via": how}))
    return out


# --- the run ----------------------------------------------------------------------------------


@dataclass
class RevokeReport:
    identity: str
    run_id: str | None
    actions: list[RevokeAction]
    results: list[RevokeResult] = field(default_factory=list)
    skipped: list[RevokeAction] = field(default_factory=list)  # done by the run resumed
    resumed: bool = False
    applied: bool = False
    verdict: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "run_id": self.run_id, "applied": self.applied,
                "resumed": self.resumed, "ok": self.ok,
                "actions": [{**dataclasses.asdict(a), "key": a.key} for a in self.actions],
                "skipped": [a.key for a in self.skipped],
                "results": [{"key": r.action.key, "ok": r.ok, "status": r.status, "detail": r.detail}
                            for r in self.results],
                "verdict": self.verdict}


def plan_actions(revokers: Iterable[Any], identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
    """Every revoker's actions for the identity (pure), identity providers first."""
    out: list[RevokeAction] = []
    for rv in revokers:
        mine = [a for a in accounts if a.system == rv.system]
        out.extend(rv.plan(identity, mine))
    order = {id(a): i for i, a in enumerate(out)}
    return sorted(out, key=lambda a: (SYSTEM_ORDER.get(a.system, 1), order[id(a)]))


def _action_of(row: dict[str, Any]) -> RevokeAction:
    return RevokeAction(system=row["system"], source=row["source"], identity=row["identity"],
                        account=row["account"], verb=row["verb"], target=row["target"],
                        description=row["description"])


def open_run(inv: Inventory, identity: str) -> dict[str, Any] | None:
    """The identity's applied run that has no ``run-end`` row (it crashed, or a step
    failed): its start row, planned actions and the keys already answered ok."""
    rows = inv.journal("identity = ?", [identity])
    ended = {r["run_id"] for r in rows if r["phase"] == "run-end"}
    starts = [r for r in rows if r["phase"] == "run-start" and r["run_id"] not in ended]
    if not starts:
        return None
    start = starts[-1]
    mine = [r for r in rows if r["run_id"] == start["run_id"]]
    planned = sorted((r for r in mine if r["phase"] == "planned"), key=lambda r: r["step"])
    return {"start": start, "actions": [_action_of(r) for r in planned],
            "done": {r["action_key"] for r in mine if r["phase"] == "sent" and r["ok"]}}


class Journal:
    """Append-only rows of one run in the inventory's ``revocations`` table."""

    def __init__(self, inv: Inventory, run_id: str, identity: str):
        self.inv, self.run_id, self.identity = inv, run_id, identity
        self.seq = 1 + max((r["seq"] or 0 for r in inv.journal("run_id = ?", [run_id])), default=0)

    def write(self, phase: str, action: RevokeAction | None = None, step: int | None = None,
              **extra: Any) -> None:
        row: dict[str, Any] = {"run_id": self.run_id, "seq": self.seq, "phase": phase,
                               "identity": self.identity, "step": step}
        if action is not None:
            row.update({"action_key": action.key, "system": action.system, "source": action.source,
                        "account": action.account, "verb": action.verb, "target": action.target,
                        "description": action.description})
        row.update(extra)
        self.inv.journal_append(row)
        self.seq += 1


def new_run_id(now: datetime) -> str:
    return f"rv-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def execute(inv: Inventory, identity: Identity, revokers: list[Any], actions: list[RevokeAction],
            *, apply: bool, reverify: Callable[[], dict[str, Any]] | None = None,
            echo: Callable[[str], None] = lambda s: None) -> RevokeReport:
    """Dry run (``apply=False``: nothing is sent, nothing journaled) or the applied run:
    resume the identity's open run if there is one (its plan, its start time), else
    journal a new one; send each step not yet answered ok, journaled before and after;
    then the targeted re-verify, journaled; ``run-end`` only when every step was ok."""
    if not apply:
        for a in actions:
            echo(f"would {a.verb}: {a.description}")
        return RevokeReport(identity.id, None, actions)
    found = open_run(inv, identity.id)
    by_system = {rv.system: rv for rv in revokers}
    if found is not None:
        run_id, actions, done = found["start"]["run_id"], found["actions"], found["done"]
        journal = Journal(inv, run_id, identity.id)
        report = RevokeReport(identity.id, run_id, actions, resumed=True, applied=True)
        echo(f"resuming run {run_id}: {len(done)} of {len(actions)} step(s) already done")
    else:
        run_id = new_run_id(datetime.now(UTC))
        journal = Journal(inv, run_id, identity.id)
        journal.write("run-start", detail=json.dumps({"steps": len(actions)}))
        for i, a in enumerate(actions, 1):
            journal.write("planned", a, step=i)
        done = set()
        report = RevokeReport(identity.id, run_id, actions, applied=True)
    for i, a in enumerate(actions, 1):
        if a.key in done:
            report.skipped.append(a)
            continue
        rv = by_system.get(a.system)
        journal.write("sending", a, step=i)
        if rv is None:
            result = RevokeResult(a, False, None, f"no revoker configured for {a.system} any more")
        else:
            try:
                result = rv.apply(a)
            except Exception as exc:  # noqa: BLE001 - one failed step; the others still go
                result = RevokeResult(a, False, None, safe_error(exc))
        journal.write("sent" if result.ok else "failed", a, step=i, ok=result.ok,
                      status=result.status, detail=result.detail[:500])
        report.results.append(result)
        echo(f"{'ok' if result.ok else 'FAILED'} {a.verb}: {a.description}"
             + (f" ({result.detail})" if result.detail else ""))
    if reverify is not None:
        try:
            report.verdict = reverify()
        except Exception as exc:  # noqa: BLE001 - the sends stand; say the check failed
            report.verdict = {"verdict": "incomplete", "error": safe_error(exc)}
        journal.write("verified", ok=report.verdict.get("verdict") == "clean",
                      detail=json.dumps(report.verdict, default=json_default, sort_keys=True)[:2000])
    if report.ok:
        journal.write("run-end", ok=True)
    return report


def leaver_or_refuse(identity: Identity | None, name: str) -> Identity:
    if identity is None:
        raise RevokeRefused(f"{name}: not in the roster of the latest scan about them")
    if not identity.is_leaver:
        raise RevokeRefused(f"{identity.id} is {identity.status}: sessions are revoked only "
                            "for terminated or suspended identities")
    return identity


def summary_line(report: RevokeReport) -> str:
    if not report.applied:
        return f"dry run: {len(report.actions)} action(s) for {report.identity}; --apply sends them"
    failed = sum(not r.ok for r in report.results)
    verdict = (report.verdict or {}).get("verdict", "not re-verified")
    return (f"run {report.run_id}: {len(report.results) - failed} sent, {failed} failed, "
            f"{len(report.skipped)} already done; re-verify: {verdict}")

"""The collector contract.

A collector reads one kind of source (AWS, GitHub, a cluster...) and writes records to a
Sink. It knows nothing about rules. Each collector module reads as get -> transform ->
load per resource type, like Cartography's intel modules:

    def collect(self, sink, scope=None):
        with self.target(sink, "123456789012", layer="cloud") as t:
            users = self.get_users()                 # API calls (counted)
            sink.emit_all(transform_users(users))    # pure functions: payload -> records

Contract:
- ``options``: the keys its config block accepts (validated by scanner.config).
- ``collect(sink, scope)``: the bulk pass, the whole estate in as few calls as the API
  allows. ``scope`` is None for a full scan; for targeted verification it names the
  identities/accounts to ask about, and a collector may narrow its calls to them.
- ``deepen(sink, scope)``: the deep pass, after resolve, only for the accounts in scope
  (leavers, unowned, NHIs whose owner left): what the API gives only per account.
- only read calls (List/Get/Describe/Generate, HTTP GET, GraphQL queries); a test
  enforces it for each collector.
- every API call is counted (``self.calls``) and reported in its Coverage row.
- an error it cannot get past is recorded as a failed (or partial) Coverage row, and
  the scan goes on: ``target()`` does that for it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Iterator

from scanner.core.errors import safe_error
from scanner.core.model import Coverage
from scanner.core.options import Option
from scanner.core.secrets import Fingerprinter, SecretScanner
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors")


@dataclass
class Scope:
    """What the deep pass (or a targeted verify) should ask about.

    ``accounts``: account uids; ``logins``: per system, the native logins/ids in scope
    (e.g. {"aws": {"alice"}, "github": {"alice-gh"}}); ``identifiers``: credential ids
    found elsewhere that need tying to a holder (e.g. AWS key ids from IaC);
    ``identities``: roster ids (for collectors that can ask by e-mail).
    """

    accounts: set[str] = field(default_factory=set)
    logins: dict[str, set[str]] = field(default_factory=dict)
    identifiers: set[str] = field(default_factory=set)
    identities: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    # targeted verify only: what the last scans tied to these identities (uids of the
    # resources they held grants on, of the credentials they held or added), so that a
    # collector whose API cannot be asked "by person" re-checks those objects instead of
    # listing the whole estate
    known_resources: set[str] = field(default_factory=set)
    known_credentials: set[str] = field(default_factory=set)

    def logins_for(self, system: str) -> set[str]:
        return self.logins.get(system, set())

    def is_empty(self) -> bool:
        return not (self.accounts or self.identifiers or self.identities or
                    any(self.logins.values()) or self.emails)


@dataclass
class CollectorContext:
    """What the runner gives every collector: no rules, no inventory reads."""

    fingerprinter: Fingerprinter
    cache_dir: Path
    now: datetime
    base_dir: Path = Path(".")
    timeout_s: float = 30.0
    max_retries: int = 4
    max_pages: int = 10_000  # per listing: a server that never ends a list fails the target
    max_wait_s: float = 3600.0  # rate-limit waits per target, in total: past it, failed
    progress: Any = None  # callable(description: str, advance: int = 1) or None

    @property
    def secrets(self) -> SecretScanner:
        return SecretScanner(self.fingerprinter)


class Collector:
    name: ClassVar[str] = ""
    layer: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, config: dict[str, Any], context: CollectorContext):
        self.config = config
        self.ctx = context
        self.calls = 0  # API calls made, all targets

    # -- to implement -------------------------------------------------------------
    @classmethod
    def check_config(cls, block: dict[str, Any]) -> str | None:
        """A rule across keys of a checked block: ``"<key>: <what is wrong>"`` or None."""
        return None

    def describe(self) -> str:
        """A short label for progress and coverage (e.g. ``aws:prod``)."""
        return self.name

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        raise NotImplementedError

    def deepen(self, sink: Sink, scope: Scope) -> None:
        """Deep pass; most collectors collect everything in the bulk pass."""
        return None

    # -- helpers ------------------------------------------------------------------
    def count_call(self, n: int = 1) -> None:
        self.calls += n

    @contextlib.contextmanager
    def target(self, sink: Sink, target: str, layer: str | None = None,
               collector: str | None = None) -> Iterator["TargetRun"]:
        """Run one target: time it, count its records and calls, and turn an exception
        into a failed Coverage row instead of a crashed scan."""
        run = TargetRun(collector or self.describe(), target, layer or self.layer,
                        started_at=datetime.now(UTC), calls_before=self.calls,
                        records_before=sink.total)
        try:
            yield run
        except Exception as exc:  # noqa: BLE001 - the scan must go on
            run.status = "failed"
            run.error = safe_error(exc)
            log.warning("%s %s failed: %s", run.collector, target, run.error)
        finally:
            sink.flush()
            sink.emit(Coverage(
                collector=run.collector, target=run.target, layer=run.layer, status=run.status,
                error=run.error, records=sink.total - run.records_before,
                api_calls=self.calls - run.calls_before, started_at=run.started_at,
                finished_at=datetime.now(UTC), attributes=run.attributes))
            sink.flush()

    def reuse_if_unchanged(self, sink: Sink, run: "TargetRun", token: str | None,
                           sources: list[str]) -> bool:
        """Incremental rescans. ``token`` names the state of this target's data, as cheap
        to get as the API allows (an ETag, a content hash of the files, the credential
        report's GeneratedTime, a max(updated_at)). When the previous scan read this
        target completely (coverage ``ok``) under the same token, its records of
        ``sources`` are copied into this scan in the inventory (INSERT ... SELECT) and
        the collector skips the target: returns True. Otherwise records the token (on the
        coverage row) for the next scan and returns False."""
        if not token:
            return False
        run.attributes["change_token"] = token
        prev = sink.previous_coverage(run.collector, run.target)
        if prev is None or prev.status != "ok" or prev.attributes.get("change_token") != token:
            return False
        sink.copy_previous(sources)
        run.attributes["reused_from"] = sink.previous_scan_id
        return True

    def emit_coverage(self, sink: Sink, target: str, layer: str, status: str,
                      error: str | None = None, records: int = 0, api_calls: int = 0,
                      attributes: dict[str, Any] | None = None) -> None:
        """A coverage row for a sub-part (an endpoint skipped or forbidden)."""
        now = datetime.now(UTC)
        sink.emit(Coverage(collector=self.describe(), target=target, layer=layer,
                           status=status, error=error, records=records, api_calls=api_calls,
                           started_at=now, finished_at=now, attributes=attributes or {}))


@dataclass
class TargetRun:
    collector: str
    target: str
    layer: str
    started_at: datetime
    calls_before: int
    records_before: int
    status: str = "ok"
    error: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def partial(self, what: str) -> None:
        """Something under this target could not be read: the target is partial."""
        if self.status == "ok":
            self.status = "partial"
        self.error = f"{self.error}; {what}" if self.error else what



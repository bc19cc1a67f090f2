"""`residual evidence`: time to zero access, per leaver and per access item, over a period.

Why this exists: auditors (SOC 2 CC6.2/CC6.3, ISO 27001 A.5.18, NIST 800-53 PS-4/AC-2,
PCI DSS 8.2.5) sample the terminations of a period and ask, for each, what access the
person had, when each piece was removed, by whom, and whether anything was used after.
The inventory keeps every scan, so the answer is a query over its history, not a new
collection: nothing here calls an API.

How a state is decided (the rule that keeps this honest):
- ``removed``: a later scan that *checked* the item's layer for that identity (its
  verdict there was ``clean`` or ``residual``) no longer saw the item live. The removal
  time is the provider's own removal event when a collector read one (CloudTrail
  ``DeleteAccessKey``, Okta ``user.lifecycle.deactivate`` ...), else the time of that
  scan, which is an upper bound (said so in ``removal_basis``).
- ``open``: still live in the last scan of the period.
- ``would_come_back``: inert now but returns on reactivation, re-apply or name reuse (an
  account suspended or pending while it still holds grants, a grant of such an account,
  IaC that recreates the access, a binding that names what no longer exists: see
  ``_name_reuse``). ``returns_on`` says which.
- ``not_evidenced``: it went out of sight, but no later scan checked its layer (the
  collector failed, was partial, not configured or not run). Never shown as removed.
- ``waived``: an accepted exception (a waiver with approver, reason and expiry).

Everything is computed with SQL over DuckDB, grouped per item; Python only sees the
population's items, so a year of weekly scans of a large estate stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb

from collectors.registry import layer_of
from scanner.core.store import Inventory

# Control ids every evidence row answers to (docs/evidence.md maps them).
CONTROLS = ("SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:2022:A.5.18", "NIST-800-53:PS-4",
            "NIST-800-53:AC-2", "PCI-DSS-4.0:8.2.5", "NIST-CSF-2.0:PR.AA-05",
            "OWASP-NHI:NHI1:2025", "CIS-Controls-8:6.2")

DEFAULT_SLA_HOURS = 24
# Provider events that take access away, whatever category the collector gave them.
REMOVAL_ACTIONS = frozenset({
    "DeleteAccessKey", "UpdateAccessKey", "DeleteLoginProfile", "DeleteUser", "DeleteSSHPublicKey",
    "DeleteServiceSpecificCredential", "DeleteSigningCertificate", "RemoveUserFromGroup",
    "DetachUserPolicy", "DeleteUserPolicy", "DeactivateMFADevice",
    "user.lifecycle.deactivate", "user.lifecycle.suspend", "user.lifecycle.delete.completed",
    "application.user_membership.remove", "group.user_membership.remove",
    "user.session.clear", "user.authentication.revoke_tokens",
    "org.remove_member", "org.remove_outside_collaborator", "public_key.delete",
    "repo.remove_member", "team.remove_member", "deploy_key.delete",
    "personal_access_token.revoke", "personal_access_token.destroy",
    "user_access_token_revoked", "personal_access_token_revoked", "user_blocked",
    "user_removed_from_group", "user_removed_from_project",
    "Delete user", "Disable account", "Remove member from group", "Revoke sign-in sessions",
    "Remove owner from application", "Update application – Certificates and secrets management",
    "google.iam.admin.v1.DeleteServiceAccountKey", "google.iam.admin.v1.DisableServiceAccountKey",
    "SUSPEND_USER", "DELETE_USER", "REVOKE_TOKEN", "DELETE_APPLICATION_SPECIFIC_PASSWORD",
})
CHECKED_VERDICTS = ("clean", "residual")
LIVE_STATUSES = {"account": ("active",), "credential": ("active", "unknown"),
                 "grant": ("active",), "finding": ("active",)}
INERT_ACCOUNT_STATUSES = ("suspended", "disabled", "pending", "blocked")
# Grants that name their principal by a string the provider does not tie to an object:
# Kubernetes keeps a RoleBinding whose subject (a user name, an e-mail, a ServiceAccount
# name) no longer exists, and gives its role to whoever next authenticates as that name.
BY_NAME_VIA = ("binding",)
# Where a person's user name or e-mail is issued: while an account there holds it, the name
# is not free to be given to someone else.
NAME_ISSUER_LAYERS = ("directory",)


@dataclass
class ScanRef:
    id: str
    seq: int
    at: datetime
    status: str
    tool_version: str
    command: str
    config_digest: str
    input_sha256: str = ""


@dataclass
class Item:
    kind: str  # account | credential | grant | finding
    uid: str
    system: str
    layer: str
    subkind: str
    name: str
    handle: str = ""  # what a responder acts on (an access key id), from the findings
    first_seen: datetime | None = None
    last_seen_live: datetime | None = None
    gone_in_scan: str | None = None  # first scan that checked the layer and saw it gone
    state: str = "open"
    returns_on: str = ""  # would_come_back: reactivation | re-apply | name reuse
    removal_at: datetime | None = None
    removal_basis: str = ""  # event | scan (upper bound) | before_first_scan
    removal_event: dict[str, Any] | None = None
    hours_from_termination: float | None = None
    hours_from_notification: float | None = None
    sla: str = ""  # met | breached | unproven | open | n/a
    age_days: float | None = None  # for open items: since termination, at period end
    note: str = ""


@dataclass
class Leaver:
    id: str
    name: str
    kind: str
    status: str
    source: str
    terminated_at: datetime | None
    notified_at: datetime | None
    items: list[Item] = field(default_factory=list)
    used_after_termination: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    sla: str = "met"  # met | breached | open | not_evidenced

    @property
    def worst(self) -> str:
        return self.sla


@dataclass
class Evidence:
    period_from: date
    period_to: date
    generated_at: datetime
    sla_hours: int
    controls: tuple[str, ...]
    scans: list[ScanRef]
    population: list[Leaver]

    def summary(self) -> dict[str, int]:
        out = {"leavers": len(self.population), "met": 0, "breached": 0, "open": 0,
               "not_evidenced": 0}
        for lv in self.population:
            out[lv.sla] = out.get(lv.sla, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "schema": "residual.evidence/1",
            "period": {"from": self.period_from, "to": self.period_to},
            "generated_at": self.generated_at, "policy": {"removal_sla_hours": self.sla_hours},
            "controls": list(self.controls), "summary": self.summary(),
            "scans": [_fields(s) for s in self.scans],
            "population": [{**_fields(lv), "items": [_fields(i) for i in lv.items]}
                           for lv in self.population],
        })


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, one level deep (``jsonable`` copies what is under
    them). ``dataclasses.asdict`` deep-copies every value, and Leaver's copied its items
    a second time: 10 of the 10k-person year's seconds went there."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {n: getattr(obj, n) for n in names}


def jsonable(value: Any) -> Any:
    """RFC 3339 times, plain containers: the same bytes for the same evidence."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 2)
    return value


def _utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(), UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds() / 3600


# --- the queries ----------------------------------------------------------------------


def estate_scans(inv: Inventory, upto: datetime) -> list[ScanRef]:
    """Finished full scans of the estate up to the end of the period, oldest first.
    Targeted, partial and shard runs speak for part of the estate only: they are not
    drawn on (the one definition: ``Inventory.ESTATE_SQL``)."""
    rows = inv.query(
        "SELECT scan_id, seq, coalesce(try_cast(json_extract_string(attributes, '$.now') "
        "AS TIMESTAMPTZ), started_at::TIMESTAMPTZ), status, tool_version, command, "
        "config_digest, coalesce(json_extract_string(attributes, '$.partial'), '') "
        f"FROM scans WHERE {Inventory.ESTATE_SQL} ORDER BY seq")
    out = []
    for sid, seq, at, status, version, command, digest, partial in rows:
        at = _utc(at)
        if partial in ("true", "1") or at is None or at > upto:
            continue
        out.append(ScanRef(sid, int(seq), at, status, version or "", command or "",
                           digest or ""))
    return out


def _population(inv: Inventory, scan_ids: list[str], start: datetime, end: datetime):
    """Every identity whose termination falls in the period, as the newest scan of the
    period that had it in its roster says (clean leavers included)."""
    return inv.query(
        "SELECT i.id, arg_max(i.name, s.seq), arg_max(i.kind, s.seq), arg_max(i.status, s.seq), "
        "arg_max(i.source, s.seq), arg_max(i.terminated_at, s.seq), "
        "arg_max(json_extract_string(i.attributes, '$.notified_at'), s.seq) "
        "FROM identities i JOIN scans s USING (scan_id) "
        "WHERE i.scan_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY i.id "
        "HAVING arg_max(i.terminated_at, s.seq) >= ? AND arg_max(i.terminated_at, s.seq) < ? "
        "ORDER BY 6, 1",
        [scan_ids, start.replace(tzinfo=None), end.replace(tzinfo=None)])


_PRESENCE = """
CREATE OR REPLACE TEMP TABLE evidence_presence AS
WITH est AS (SELECT scan_id, seq FROM scans WHERE scan_id IN (SELECT unnest($scans))),
pop AS (SELECT unnest($pop) AS identity),
lk AS (SELECT DISTINCT l.account, l.identity, split_part(l.account, '|', 1) AS src,
              substr(l.account, length(split_part(l.account, '|', 1)) + 2) AS nid
       FROM links l JOIN est USING (scan_id) JOIN pop USING (identity)),
pres AS (
  SELECT lk.identity, 'account' AS kind, lk.account AS uid, a.system,
         a.kind AS sub, coalesce(nullif(a.login, ''), a.native_id) AS name, a.status, est.seq,
         lk.account AS holder
  FROM accounts a JOIN est USING (scan_id) JOIN lk ON a.source = lk.src AND a.native_id = lk.nid
  UNION ALL
  SELECT lk.identity, 'credential', c.source || '|' || c.native_id, c.system, c.kind,
         coalesce(nullif(c.name, ''), c.native_id), c.status, est.seq, lk.account
  FROM credentials c JOIN est USING (scan_id) JOIN lk ON lk.account = c.holder
  UNION ALL
  SELECT lk.identity, 'grant', g.source || '|' || g.principal || '->' || g.resource || ':'
         || g.permission, g.system, g.via, g.resource || ' (' || g.permission || ')',
         'active', est.seq, lk.account
  FROM grants g JOIN est USING (scan_id) JOIN lk ON lk.account = g.principal
  UNION ALL
  SELECT f.identity, 'finding', f.fingerprint, f.system, f.object_kind,
         coalesce(nullif(f.object_name, ''), f.object_id),
         CASE f.status WHEN 'waived' THEN 'waived' ELSE 'active' END, est.seq,
         CASE WHEN starts_with(f.subject, 'grant:') THEN f.subject END
  FROM findings f JOIN est USING (scan_id) JOIN pop ON pop.identity = f.identity
  WHERE f.severity <> 'info' AND NOT (starts_with(f.subject, 'account:')
        OR starts_with(f.subject, 'credential:'))
)
SELECT * FROM pres
"""


def _presence(inv: Inventory, scan_ids: list[str], pop: list[str]) -> None:
    """Every sighting of every access item of the population, once, in a temporary table
    (the read-only connection allows those): the items and the input digests both read it."""
    inv.query(_PRESENCE, {"scans": scan_ids, "pop": pop})


def _items(inv: Inventory):
    live = " OR ".join(f"(kind = '{k}' AND status IN ({', '.join(repr(s) for s in v)}))"
                       for k, v in LIVE_STATUSES.items())
    return inv.query(f"""
        SELECT identity, kind, uid, arg_max(system, seq), arg_max(sub, seq), arg_max(name, seq),
               min(seq), max(seq) FILTER (WHERE {live}), max(seq), arg_max(status, seq),
               max(seq) FILTER (WHERE status = 'waived'), arg_max(holder, seq)
        FROM evidence_presence GROUP BY identity, kind, uid ORDER BY identity, kind, uid""")


# How ``rows_sha256`` is made (named in the manifest, so a re-check can redo it): a tree of
# two levels, so no sort is over more than one identity's rows or one scan's identities.
ROWS_DIGEST = ("sha256 over the identity-sorted lines '<identity> <leaf>', leaf = sha256 over "
               "the sorted lines '<kind>|<uid>|<status>' of that identity's items in the scan")


DIGEST_BATCH_ROWS = 1_000_000  # rows of presence one digest query sorts (its memory)


def _input_digests(inv: Inventory, scans: list[ScanRef]) -> dict[str, str]:
    """Per scan, a SHA-256 over the rows this report drew from it (``ROWS_DIGEST``): a
    later re-check that gets another digest knows that scan's data changed.

    Cost: an ordered aggregate keeps its group's rows in memory (it cannot spill), so one
    query over a year of a large estate's rows (4.4M at 10k people) held them all at
    once; the scans are digested a batch at a time (about ``DIGEST_BATCH_ROWS`` rows), and
    per identity first, so each sort is small."""
    counts = inv.query("SELECT seq, count(*) FROM evidence_presence GROUP BY seq ORDER BY seq")
    batches: list[list[int]] = [[]]
    rows = 0
    for seq, n in counts:
        if batches[-1] and rows + n > DIGEST_BATCH_ROWS:
            batches.append([])
            rows = 0
        batches[-1].append(seq)
        rows += n
    by_seq: dict[int, str] = {}
    for batch in batches:
        if not batch:
            continue
        by_seq.update(inv.query(
            "SELECT seq, sha256(string_agg(identity || ' ' || leaf, chr(10) ORDER BY identity)) "
            "FROM (SELECT seq, identity, sha256(string_agg(r, chr(10) ORDER BY r)) AS leaf "
            "      FROM (SELECT seq, identity, kind || '|' || uid || '|' || coalesce(status, '') AS r "
            "            FROM evidence_presence WHERE seq IN (SELECT unnest(?::BIGINT[]))) "
            "      GROUP BY seq, identity) "
            "GROUP BY seq", [batch]))
    return {s.id: by_seq.get(s.seq, hashlib.sha256(b"").hexdigest()) for s in scans}


def _checked(inv: Inventory, scan_ids: list[str], pop: list[str]) -> dict[tuple[str, str], list[int]]:
    rows = inv.query(
        "SELECT v.identity, v.layer, list(s.seq ORDER BY s.seq) FROM verdicts v "
        "JOIN scans s USING (scan_id) WHERE v.scan_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND v.identity IN (SELECT unnest(?::VARCHAR[])) "
        "AND v.verdict IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2",
        [scan_ids, pop, list(CHECKED_VERDICTS)])
    return {(i, layer): list(seqs) for i, layer, seqs in rows}


def _last_verdicts(inv: Inventory, scan_id: str, pop: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for ident, layer, verdict, detail in inv.query(
            "SELECT identity, layer, verdict, detail FROM verdicts WHERE scan_id = ? "
            "AND identity IN (SELECT unnest(?::VARCHAR[]))", [scan_id, pop]):
        out.setdefault(ident, {})[layer] = verdict
    return out


def _events(inv: Inventory, scan_ids: list[str], uids: list[str]) -> list[tuple]:
    """Provider events about the population's accounts and credentials, once each."""
    if not uids:
        return []
    return inv.query(
        "SELECT native_id, any_value(system), any_value(action), any_value(category), "
        "any_value(\"at\"), any_value(actor), any_value(subject_account), "
        "any_value(subject_credential), any_value(outcome) FROM activities "
        "WHERE scan_id IN (SELECT unnest(?::VARCHAR[])) AND (subject_account IN "
        "(SELECT unnest(?::VARCHAR[])) OR subject_credential IN (SELECT unnest(?::VARCHAR[]))) "
        "GROUP BY source, native_id", [scan_ids, uids, uids])


def _key_removals(inv: Inventory, scan_ids: list[str]) -> list[tuple]:
    """Removal events that name an access key by its id (CloudTrail DeleteAccessKey,
    UpdateAccessKey to Inactive), once each, with the uid of the credential that had that
    id in any scan of the period (the deep pass's ``access_key_id``)."""
    return inv.query(
        "WITH keys AS (SELECT DISTINCT json_extract_string(attributes, '$.access_key_id') AS kid, "
        "source || '|' || native_id AS uid FROM credentials WHERE scan_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND json_extract_string(attributes, '$.access_key_id') IS NOT NULL), "
        "ev AS (SELECT native_id, any_value(system) AS system, any_value(action) AS action, "
        "any_value(\"at\") AS at, any_value(actor) AS actor, "
        "any_value(json_extract_string(attributes, '$.removed_key_id')) AS kid, any_value(outcome) AS outcome "
        "FROM activities WHERE scan_id IN (SELECT unnest(?::VARCHAR[])) AND category = 'removal' "
        "AND json_extract_string(attributes, '$.removed_key_id') IS NOT NULL GROUP BY source, native_id) "
        "SELECT ev.native_id, ev.system, ev.action, ev.at, ev.actor, keys.uid, ev.outcome "
        "FROM ev JOIN keys USING (kid)", [scan_ids, scan_ids])


def _findings_of_note(inv: Inventory, scan_ids: list[str], pop: list[str]):
    """Use after termination (rules that see it) and waived findings, once each."""
    return inv.query(
        "SELECT f.identity, f.fingerprint, f.rule, arg_max(f.title, s.seq), "
        "arg_max(f.object_name, s.seq), arg_max(f.evidence, s.seq), "
        "arg_max(f.status, s.seq), max(s.seq), arg_max(f.subject, s.seq) "
        "FROM findings f JOIN scans s USING (scan_id) "
        "WHERE f.scan_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND f.identity IN (SELECT unnest(?::VARCHAR[])) "
        "AND (f.rule LIKE '%after_termination%' OR f.status = 'waived') "
        "GROUP BY f.identity, f.fingerprint, f.rule", [scan_ids, pop])


def _handles(inv: Inventory, scan_ids: list[str], pop: list[str]) -> dict[str, str]:
    """Item uid -> the handle findings name it by (an AWS access key id for a key slot)."""
    rows = inv.query(
        "SELECT f.subject, arg_max(f.object_name, s.seq) FROM findings f "
        "JOIN scans s USING (scan_id) WHERE f.scan_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND f.identity IN (SELECT unnest(?::VARCHAR[])) GROUP BY f.subject", [scan_ids, pop])
    return {(subject or "").split(":", 1)[-1]: name for subject, name in rows if name}


# --- building the answer --------------------------------------------------------------


# DuckDB's default memory limit is 80% of RAM, and a year of a 10k-person estate's history
# filled 5.5 GB of it (its buffer cache and the presence table). Under a cap it spills its
# joins, aggregates and the temporary table to disk instead: the 10k year ran in the same
# time under 1 GB (benchmarks/RESULTS.md). A query that cannot fit even so is run again
# without the cap rather than failing the report.
MEMORY_CAP_BYTES = 1 << 30


def build(inv: Inventory, period_from: date, period_to: date, sla_hours: int = DEFAULT_SLA_HOURS,
          now: datetime | None = None) -> Evidence:
    """The evidence of a period (see the module's docstring), under ``MEMORY_CAP_BYTES``;
    the connection's own memory limit is restored afterwards."""
    (limit,), = inv.query("SELECT current_setting('memory_limit')")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cap = min(MEMORY_CAP_BYTES, int(ram * 0.8)) // 2**20
    try:
        inv.con.execute(f"SET memory_limit = '{cap}MiB'")
        try:
            return _build(inv, period_from, period_to, sla_hours, now)
        except duckdb.OutOfMemoryException:
            inv.con.execute(f"SET memory_limit = '{limit}'")
            return _build(inv, period_from, period_to, sla_hours, now)
    finally:
        inv.con.execute("DROP TABLE IF EXISTS evidence_presence")
        inv.con.execute(f"SET memory_limit = '{limit}'")


def _build(inv: Inventory, period_from: date, period_to: date, sla_hours: int,
           now: datetime | None) -> Evidence:
    start = datetime.combine(period_from, time(), UTC)
    end = datetime.combine(period_to + timedelta(days=1), time(), UTC)
    scans = estate_scans(inv, end)
    ids = [s.id for s in scans]
    by_seq = {s.seq: s for s in scans}
    ev = Evidence(period_from, period_to, now or datetime.now(UTC), sla_hours, CONTROLS, scans, [])
    if not scans:
        return ev
    last = scans[-1]
    leavers = {}
    for ident, name, kind, status, source, term, notified in _population(inv, ids, start, end):
        leavers[ident] = Leaver(ident, name or "", kind, status, source or "", _utc(term),
                                _utc(notified))
    pop = list(leavers)
    if not pop:
        return ev
    _presence(inv, ids, pop)
    digests = _input_digests(inv, scans)
    for s in scans:
        s.input_sha256 = digests[s.id]
    checked = _checked(inv, ids, pop)
    rows = _items(inv)
    uids = sorted({r[2] for r in rows if r[1] in ("account", "credential")})
    removals: dict[str, list[dict[str, Any]]] = {}
    uses: dict[str, list[dict[str, Any]]] = {}
    for eid, system, action, category, at, actor, acc, cred, outcome in _events(inv, ids, uids):
        e = {"id": eid, "system": system, "action": action, "at": _utc(at), "actor": actor,
             "outcome": outcome}
        for uid in {acc, cred} - {None}:
            removal = category == "removal" or action in REMOVAL_ACTIONS
            (removals if removal else uses).setdefault(uid, []).append(e)

    # CloudTrail names the access key it removed, not its slot-based uid: tie it by key id
    creds = {r[2] for r in rows if r[1] == "credential"}
    for eid, system, action, at, actor, uid, outcome in _key_removals(inv, ids):
        e = {"id": eid, "system": system, "action": action, "at": _utc(at), "actor": actor, "outcome": outcome}
        if uid in creds and all(x["id"] != eid for x in removals.get(uid, [])):
            removals.setdefault(uid, []).append(e)

    handles = _handles(inv, ids, pop)
    account_status = {r[2]: r[9] for r in rows if r[1] == "account" and r[8] == last.seq}
    holding = {_grant_account(r[2]) for r in rows if r[1] == "grant" and r[8] == last.seq}
    holder_of = {r[2]: r[11] for r in rows if r[1] == "credential"}
    # A finding about a grant is the grant's item when the grant is one (its principal is
    # an account linked to the leaver); when it is not (an aws-auth mapping naming an IAM
    # ARN, a binding of a group whose only members have left), the finding is the item:
    # dropping it too left that access out of the evidence.
    grant_items = {(r[0], "grant:" + r[2]) for r in rows if r[1] == "grant"}
    subject_of = {r[2]: r[11] for r in rows if r[1] == "finding" and r[11]}
    for (ident, kind, uid, system, sub, name, first_seq, live_seq, last_seq, last_status,
         waived_seq, subject) in rows:
        if kind == "finding" and subject and (ident, subject) in grant_items:
            continue
        lv = leavers[ident]
        item = Item(kind, uid, system, layer_of(system, sub or ""), sub or "", name or uid,
                    handle=handles.get(uid, ""),
                    first_seen=by_seq[first_seq].at,
                    last_seen_live=by_seq[live_seq].at if live_seq else None)
        _decide(item, lv, live_seq, last_seq, last_status, waived_seq, last, by_seq,
                checked.get((ident, item.layer), []), removals.get(uid, []),
                account_status, holding, sla_hours)
        lv.items.append(item)
        for e in uses.get(uid, []):
            if lv.terminated_at and e["at"] and e["at"] >= lv.terminated_at:
                lv.used_after_termination.append({**e, "item": uid})
    waived_subjects: set[str] = set()
    for ident, fp, rule, title, obj, evidence, status, seq, subject in _findings_of_note(inv, ids, pop):
        lv = leavers[ident]
        evd = json.loads(evidence) if isinstance(evidence, str) else (evidence or {})
        if "after_termination" in rule:
            lv.used_after_termination.append({"finding": fp, "rule": rule, "title": title,
                                              "object": obj, "seen_in": by_seq[seq].id})
        if status == "waived" and seq == last.seq:
            w = evd.get("waiver") or {}
            waived_subjects.add((subject or "").split(":", 1)[-1])
            lv.exceptions.append({"finding": fp, "rule": rule, "object": obj,
                                  "approver": w.get("approver"), "reason": w.get("reason"),
                                  "expires": str(w.get("expires") or "")})
    for lv in leavers.values():  # an accepted exception is its own state, with its waiver
        for item in lv.items:
            if item.uid in waived_subjects and item.state in ("open", "would_come_back"):
                item.state, item.sla, item.note = "waived", "n/a", "accepted exception (waiver)"
    for lv in leavers.values():
        _name_reuse(lv, holder_of, subject_of)
    verdicts = _last_verdicts(inv, last.id, pop)
    for ident, lv in leavers.items():
        for layer, verdict in sorted(verdicts.get(ident, {}).items()):
            if verdict not in CHECKED_VERDICTS:
                lv.gaps.append({"layer": layer, "verdict": verdict, "scan": last.id})
        if not verdicts.get(ident):
            lv.gaps.append({"layer": "*", "verdict": "not checked", "scan": last.id})
        lv.sla = _leaver_sla(lv)
    ev.population = sorted(leavers.values(),
                           key=lambda lv: (lv.terminated_at or start, lv.id))
    return ev


def _decide(item: Item, lv: Leaver, live_seq: int | None, last_seq: int, last_status: str,
            waived_seq: int | None, last: ScanRef, by_seq: dict[int, ScanRef],
            checked: list[int], events: list[dict[str, Any]],
            account_status: dict[str, str], holding: set[str], sla_hours: int) -> None:
    term = lv.terminated_at
    if waived_seq == last.seq and last_status == "waived":
        item.state, item.sla = "waived", "n/a"
        return
    if live_seq == last.seq:
        held_by_inert = (item.kind == "grant" and
                         account_status.get(_grant_account(item.uid)) in INERT_ACCOUNT_STATUSES)
        recreated = item.kind == "finding" and item.layer == "iac"
        item.state = "would_come_back" if held_by_inert or recreated else "open"
        if held_by_inert:
            item.returns_on = "reactivation"
            item.note = "held by an account that is suspended or pending: returns on reactivation"
        elif recreated:
            item.returns_on = "re-apply"
            item.note = "IaC recreates this access when it is applied"
        item.sla = "open"
        item.age_days = _hours(term, last.at) / 24 if term else None
        return
    if item.kind == "account" and last_seq == last.seq and (
            last_status == "pending" or (last_status in INERT_ACCOUNT_STATUSES
                                         and item.uid in holding)):
        item.state, item.returns_on = "would_come_back", "reactivation"
        item.note = (f"account is {last_status}, not deleted, and still holds access: "
                     "it returns on reactivation")
    after = live_seq or 0
    gone = next((s for s in checked if s > after), None)
    if gone is None:
        if item.state != "would_come_back":
            item.state = "not_evidenced"
            item.note = ("no later scan checked its layer for this identity "
                         "(collector failed, partial, not configured or not run)")
        item.sla = "unproven" if item.state == "not_evidenced" else "open"
        return
    item.gone_in_scan = by_seq[gone].id
    if item.state != "would_come_back":
        item.state = "removed"
    event = _removal_event(events, by_seq[after].at if after else None, by_seq[gone].at)
    if event:
        item.removal_event, item.removal_at, item.removal_basis = event, event["at"], "event"
    elif after:
        item.removal_at, item.removal_basis = by_seq[gone].at, "scan"
    else:
        item.removal_at, item.removal_basis = by_seq[gone].at, "before_first_scan"
    item.hours_from_termination = _hours(term, item.removal_at)
    item.hours_from_notification = _hours(lv.notified_at, item.removal_at)
    if item.state == "would_come_back":
        item.sla = "open"
    elif item.hours_from_termination is None:
        item.sla = "n/a"
    elif item.hours_from_termination <= sla_hours:
        item.sla = "met"
    elif item.removal_basis == "event" or (after and by_seq[after].at > term + timedelta(hours=sla_hours)):
        item.sla = "breached"  # the event says when, or it was seen live past the SLA
    else:
        item.sla = "unproven"  # removed between two scans that straddle the SLA


def _name_reuse(lv: Leaver, holder_of: dict[str, str | None],
                subject_of: dict[str, str]) -> None:
    """Bindings to a name nobody holds any more: inert now, but whoever is next given the
    name (a new hire given the e-mail, a ServiceAccount created with that name) gets the
    access. ``would_come_back`` (returns on name reuse), never ``removed`` and not ``open``:

    - a by-name grant (a Kubernetes RBAC binding) still live whose subject account was seen
      and is gone (a ServiceAccount deleted while a binding names it);
    - a by-name grant to a user name or e-mail (``User`` subject) still live, when every
      account the leaver had where names are issued (the directory: Okta, Entra, Google
      Workspace) is removed, and no credential of that subject is still live (an unexpired
      client certificate still authenticates as the name: that access is ``open``);
    - an aws-auth ConfigMap entry (a finding about a ``mapping`` grant) still mapping the
      IAM ARN of a user of the leaver's that was seen and is gone: aws-auth matches the ARN
      as a string, so an IAM user created again with that name is let in. (An EKS access
      entry is not: EKS ties it to the deleted principal; it stays ``open``.)

    A leaver with no directory account seen in the period keeps ``open``: nothing says the
    name is free; so does a mapping of an ARN never seen as an account."""
    accounts = {i.uid: i for i in lv.items if i.kind == "account"}
    issuers = [i for i in accounts.values() if i.layer in NAME_ISSUER_LAYERS]
    names_free = bool(issuers) and all(i.state == "removed" for i in issuers)
    live_holders = {holder_of.get(i.uid) for i in lv.items
                    if i.kind == "credential" and i.state in ("open", "waived")}
    for item in lv.items:
        if item.kind != "grant" or item.subkind not in BY_NAME_VIA or item.state != "open":
            continue
        principal = _grant_account(item.uid)
        acc = accounts.get(principal)
        if acc is not None and acc.state == "removed":
            item.note = (f"the binding still names {acc.name}, which no longer exists: "
                         "whoever creates that name gets this access")
        elif (acc is not None and acc.subkind == "user" and acc.state == "open"
              and names_free and principal not in live_holders):
            item.note = (f"the binding names {acc.name}, which the directory no longer holds: "
                         "whoever is given that name next gets this access")
            acc.state, acc.returns_on, acc.note = "would_come_back", "name reuse", item.note
        else:
            continue
        item.state, item.returns_on = "would_come_back", "name reuse"
    by_native = {uid.split("|", 1)[-1]: acc for uid, acc in accounts.items()}
    for item in lv.items:
        subject = subject_of.get(item.uid, "")
        if (item.kind != "finding" or item.subkind != "iam_mapping" or item.state != "open"
                or "aws-auth" not in item.name or not subject.startswith("grant:")):
            continue
        principal = _grant_account(subject.removeprefix("grant:"))
        acc = accounts.get(principal) or by_native.get(principal)
        if acc is not None and acc.state == "removed":
            item.state, item.returns_on = "would_come_back", "name reuse"
            item.note = (f"aws-auth still maps {principal}, which was deleted: an IAM user "
                         "created again with that name is let into the cluster")


def _grant_account(uid: str) -> str:
    """The principal account uid of a grant item (``source|principal->resource:perm``)."""
    return uid.split("|", 1)[1].split("->", 1)[0]


def _removal_event(events: list[dict[str, Any]], after: datetime | None,
                   before: datetime) -> dict[str, Any] | None:
    """The provider's removal event between the last scan that saw the item live and the
    first that saw it gone (the earliest, when there are several)."""
    fits = [e for e in events if e["at"] and (after is None or e["at"] >= after)
            and e["at"] <= before]
    return min(fits, key=lambda e: e["at"]) if fits else None


def _leaver_sla(lv: Leaver) -> str:
    states = {i.sla for i in lv.items if i.state != "waived"}
    if "open" in states:
        return "open"
    if "breached" in states:
        return "breached"
    # a layer that failed or was partial may hide access: nothing about it is evidenced.
    # A layer never configured is listed as not checked, beside the status, not in it.
    if "unproven" in states or any(g["verdict"] != "not_configured" for g in lv.gaps):
        return "not_evidenced"
    return "met"


# --- integrity --------------------------------------------------------------------------

MANIFEST_MARK = "residual-evidence-manifest"


def manifest(body: bytes, ev: Evidence, inventory_path: str) -> dict[str, Any]:
    """What a later re-check needs: the report's own digest, the digest of the evidence
    data, and each input scan with its id, time, tool version, config digest and the digest
    of the rows drawn from it."""
    data = json.dumps(ev.to_dict(), sort_keys=True, separators=(",", ":"))
    return {"algorithm": "sha256", "report_sha256": hashlib.sha256(body).hexdigest(),
            "evidence_sha256": hashlib.sha256(data.encode()).hexdigest(),
            "inventory": inventory_path, "rows_digest": ROWS_DIGEST,
            "inputs": [{"scan": s.id, "at": jsonable(s.at), "tool_version": s.tool_version,
                        "config_digest": s.config_digest, "rows_sha256": s.input_sha256}
                       for s in ev.scans]}

"""Record types of the inventory.

Every record a collector produces is one of these dataclasses. They are deliberately
flat (scalars, lists of strings and one free-form ``attributes`` dict) so that the
inventory can store them column for column and a user can query them with plain SQL.

Identifiers:
- ``source`` names the collector instance (``aws:123456789012``, ``github:acme``,
  ``kubernetes:prod``); ``native_id`` is what the system itself calls the object.
- ``uid`` = ``source|native_id`` is unique across the whole estate (two clusters can
  both have ``User:alice``), and is what other records point at (a credential's
  ``holder``, a grant's ``principal``).

Raw secret values never appear in a record: only a keyed ``fingerprint`` and a ``hint``
(see ``scanner.core.secrets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

# --- vocabularies -----------------------------------------------------------------

LAYERS = ("directory", "cloud", "code-hosting", "ci-cd", "kubernetes", "iac", "saas",
          "sessions", "secrets")

IDENTITY_KINDS = ("human", "service", "bot", "agent", "workload")
IDENTITY_STATUSES = ("active", "suspended", "terminated")

ACCOUNT_KINDS = ("user", "service_account", "bot", "app", "role", "group")
ACCOUNT_STATUSES = ("active", "disabled", "suspended", "blocked", "pending", "deleted")

CREDENTIAL_KINDS = (
    "access_key", "password", "pat", "ssh_key", "deploy_key", "deploy_token",
    "oauth_grant", "app_installation", "sa_token", "client_cert", "api_key",
    "session", "secret", "signing_cert", "mfa_device", "service_credential",
    "refresh_token", "app_password", "client_secret", "vault_token", "secret_id", "lease",
    "device",
)
CREDENTIAL_STATUSES = ("active", "inactive", "expired", "revoked", "unknown")

COVERAGE_STATUSES = ("ok", "partial", "failed", "skipped")
SEVERITIES = ("info", "low", "medium", "high", "critical")
VERDICTS = ("clean", "residual", "incomplete", "not_configured")


def severity_rank(severity: str) -> int:
    """Position of a severity in SEVERITIES, so that thresholds compare as numbers."""
    return SEVERITIES.index(severity)


def make_uid(source: str, native_id: str) -> str:
    return f"{source}|{native_id}"


# --- records -------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """Fields every record carries. ``scan_id`` is set by the inventory, not by collectors."""

    TABLE: ClassVar[str] = ""
    # The ``attributes`` keys the scanner itself writes on this kind; a source declares
    # the keys it writes in its package (ATTRIBUTES in collectors/<source>/__init__.py).
    # The writer (scanner.core.store.Sink) checks every record against both.
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ()


@dataclass(slots=True)
class Identity(Record):
    """A person or non-human identity from the roster (CSV, Okta, SCIM...)."""

    TABLE: ClassVar[str] = "identities"
    # roster_status: {source: its status} (merge); terminated_on: the day ("2026-11-30")
    # when the roster gave terminated_at as a date without a time (see after_termination)
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ("roster_status", "terminated_on")
    id: str
    name: str = ""
    kind: str = "human"
    status: str = "active"
    terminated_at: datetime | None = None
    owner: str | None = None
    emails: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    system: str = "roster"
    source: str = "roster"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"identity:{self.id}"

    @property
    def is_leaver(self) -> bool:
        return self.status in ("terminated", "suspended")

    @property
    def after_termination(self) -> datetime | None:
        """From when an event counts as after termination. A roster date without a time
        (``terminated_on`` set, ``terminated_at`` its midnight UTC) is the END of that day
        (UTC): a leaver signing in on her last day is not residue. A time, even midnight,
        is taken as given."""
        t = self.terminated_at
        if t is not None and self.attributes.get("terminated_on") == t.date().isoformat():
            return t + timedelta(days=1)
        return t


@dataclass(slots=True)
class Account(Record):
    TABLE: ClassVar[str] = "accounts"
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ("description",)  # free text a source gives (agent rules read it)
    system: str
    source: str
    native_id: str
    login: str = ""
    email: str | None = None
    kind: str = "user"
    status: str = "active"
    created_at: datetime | None = None
    last_seen_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.native_id)

    @property
    def node(self) -> str:
        return f"account:{self.uid}"


@dataclass(slots=True)
class Credential(Record):
    TABLE: ClassVar[str] = "credentials"
    system: str
    source: str
    native_id: str
    kind: str
    holder: str | None = None  # uid of the holding Account; None = orphaned at source
    name: str = ""
    scopes: list[str] = field(default_factory=list)
    status: str = "active"
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    rotated_at: datetime | None = None
    fingerprint: str | None = None  # keyed HMAC, or a public-key fingerprint
    hint: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.native_id)

    @property
    def node(self) -> str:
        return f"credential:{self.uid}"


def credential_handle(c: Credential) -> str:
    """The non-secret handle a responder revokes this credential by, as the provider names
    it: the AWS access key id, a GitHub key's id and SSH fingerprint, a GitLab token's or
    key's id. "" when the inventory does not know it (a credential-report slot before the
    deep pass). Findings carry it in ``object.name`` (scanner.engine.to_finding), so every
    report names it rather than a hint such as ``AKIA…5XQU``."""
    a = c.attributes or {}
    if a.get("access_key_id"):
        return str(a["access_key_id"])
    if c.system == "aws":  # an SSH key, a certificate, an MFA device: named by its id
        return c.name if c.kind in ("ssh_key", "signing_cert", "mfa_device") else ""
    native = c.native_id or ""
    ssh_fp = c.fingerprint if (c.fingerprint or "").startswith("SHA256:") else None
    key_id = ""
    if c.system == "github":
        tail = native.rpartition("/keys/")[2] if "/keys/" in native else ""
        known = str(a.get("key_id") or (tail if tail.isdigit() else ""))
        if known.isdigit():
            key_id = f"key id {known}"
        elif native.startswith("fine-grained-pat:"):
            key_id = f"token id {native.partition(':')[2]}"
    elif c.system == "gitlab":
        kind, _, num = native.rpartition(":")
        if num.isdigit():
            label = kind.rpartition(":")[2] or c.kind
            key_id = f"{'token' if 'token' in label or label == 'pat' else 'key'} id {num}"
    return ", ".join(p for p in (key_id, ssh_fp) if p)


@dataclass(slots=True)
class Resource(Record):
    TABLE: ClassVar[str] = "resources"
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ("description",)  # free text a source gives (agent rules read it)
    system: str
    source: str
    native_id: str
    kind: str
    name: str = ""
    updated_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.native_id)

    @property
    def node(self) -> str:
        return f"resource:{self.uid}"


@dataclass(slots=True)
class Grant(Record):
    """``principal`` (an Account uid, or a free principal string such as an ARN for trust
    policies) may do ``permission`` on ``resource`` (a Resource uid), ``via`` some path."""

    TABLE: ClassVar[str] = "grants"
    system: str
    source: str
    principal: str
    resource: str
    permission: str = ""
    via: str = "direct"  # direct, team, group, trust, binding, mapping
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"grant:{self.source}|{self.principal}->{self.resource}:{self.permission}"


@dataclass(slots=True)
class Reference(Record):
    """A place that names an identity, account or credential (not a secret)."""

    TABLE: ClassVar[str] = "references_"
    system: str
    source: str
    location: str  # file path, repo, k8s object, CI variable...
    matched: str  # the text matched (an e-mail, a login, an ARN, a key id)
    target_kind: str = "identity"  # identity, account, credential
    target: str = ""  # identity id, account uid or credential native id it resolved to
    line: int | None = None
    commit: str | None = None
    in_head: bool | None = None
    context: str = ""  # "terraform aws_iam_user.alice", "CODEOWNERS", "RoleBinding dev/admins"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"reference:{self.source}|{self.location}:{self.line or 0}:{self.matched}"


@dataclass(slots=True)
class Exposure(Record):
    """A secret found in a place. ``identifier`` is a non-secret handle for correlation
    (an AWS access key id, an SSH public-key fingerprint, a keyed digest of a token's
    last eight characters)."""

    TABLE: ClassVar[str] = "exposures"
    system: str
    source: str
    detector: str
    fingerprint: str
    hint: str
    location: str
    line: int | None = None
    commit: str | None = None
    in_head: bool | None = None
    identifier: str | None = None
    verified: str = "unverified"  # unverified, valid, invalid
    matched_credential: str | None = None  # credential uid after correlation
    context: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"exposure:{self.source}|{self.location}:{self.line or 0}:{self.fingerprint[:16]}"


@dataclass(slots=True)
class Coverage(Record):
    TABLE: ClassVar[str] = "coverage"
    # what a target run reports beyond its counts: change tokens, what was skipped or
    # forbidden, malformed items, rate-limit waits, per-endpoint calls
    ATTRIBUTES: ClassVar[tuple[str, ...]] = (
        "accounts", "admin", "apps", "blobs", "calls", "change_token",
        "credential_report_generated", "credentials_inventory", "entities",
        "filter_ignored", "forbidden", "groups", "history", "identity_center_region",
        "key_ids_tied", "malformed", "malformed_groups", "malformed_users", "namespace",
        "not_checked", "pass", "projects", "rate_limit_waits", "read_s", "repo", "repos",
        "reused_from", "runner_errors", "scoped", "secret_ids", "skipped", "sync",
        "token_scopes", "tokens_gone", "tokens_not_looked_up", "users", "verify_calls"
    )
    collector: str
    target: str
    layer: str
    status: str = "ok"
    error: str | None = None
    records: int = 0
    api_calls: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Link(Record):
    """resolve's answer: this account belongs to this identity, and why."""

    TABLE: ClassVar[str] = "links"
    account: str  # account uid
    identity: str  # identity id
    evidence: str  # alias, email, external_email, tag:email, tag:owner, owner, ssh_key, login~localpart
    confidence: float = 1.0
    detail: str = ""
    relation: str = "is"  # "is": the identity's own account; "owns": an NHI it is accountable for


@dataclass(slots=True)
class Finding(Record):
    TABLE: ClassVar[str] = "findings"
    rule: str
    severity: str
    title: str
    layer: str
    system: str = ""
    identity: str | None = None
    subject: str = ""  # graph node id of the object the finding is about
    object_kind: str = ""
    object_id: str = ""
    object_name: str = ""
    location_path: str | None = None
    location_line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    remediation: str = ""
    fingerprint: str = ""
    status: str = "new"  # new, persisting, waived (set by the engine)


ACTIVITY_CATEGORIES = ("use", "removal", "session")


@dataclass(slots=True)
class Activity(Record):
    """One event a provider's own log reports about an account or credential.

    Why a record of its own: "used after termination" and "removed at, by whom" are
    statements about time that no snapshot of standing access can make. Collectors that
    read audit logs (CloudTrail, Okta System Log, GitHub audit log, Entra sign-ins,
    Google Reports) emit one Activity per event; rules and ``residual evidence`` read them.
    ``native_id`` is the provider's event id, so the same event read twice is one row.
    """

    TABLE: ClassVar[str] = "activities"
    source: str
    native_id: str  # the provider's event id
    system: str
    action: str  # the provider's event name: DeleteAccessKey, user.session.start, ...
    category: str = "use"  # use | removal | session (ACTIVITY_CATEGORIES)
    at: datetime | None = None
    actor: str = ""  # who did it, as the provider names them (login, ARN, e-mail)
    subject_account: str | None = None  # account uid the event is about, when known
    subject_credential: str | None = None  # credential uid, when known
    outcome: str = ""  # success | failure | provider's own word
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.native_id)


RECORD_TYPES: tuple[type[Record], ...] = (
    Identity, Account, Credential, Resource, Grant, Reference, Exposure, Coverage, Link,
    Finding, Activity,
)


"""Rule metadata, the registry, and what a rule sees.

A rule is one function decorated with ``@rule(...)``; like Prowler's checks, its id,
severity, layer, framework mapping and remediation sit next to its logic:

    @rule(id="credential.live_of_terminated", title="Live credential of a terminated identity",
          severity="high", frameworks=["OWASP-NHI:NHI1"], remediation="Delete the key.")
    def live_credential(ctx: RuleContext) -> Iterator[Hit]:
        for cred in ctx.credentials:
            ...
            yield Hit(subject=cred.node, identity=ident.id, ...)

A rule reads only the inventory (through RuleContext); it never calls an API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable, Iterator

from scanner.core import plugins
from scanner.core.model import SEVERITIES

@dataclass(frozen=True)
class RuleMeta:
    id: str
    title: str
    severity: str
    frameworks: tuple[str, ...]
    remediation: str
    description: str = ""
    layer: str | None = None  # None: the layer of the object's system
    family: str = ""


@dataclass
class Hit:
    """One rule match, before the engine adds metadata, fingerprint and status."""

    subject: str  # graph node id of the object (credential:..., account:..., exposure:...)
    system: str
    object_kind: str
    object_id: str
    object_name: str = ""
    identity: str | None = None
    title: str | None = None  # default: the rule's title
    evidence: dict[str, Any] = field(default_factory=dict)
    location_path: str | None = None
    location_line: int | None = None
    severity: str | None = None  # override (e.g. critical while a matched key is active)
    layer: str | None = None
    path: list[str] | None = None  # graph path identity -> ... -> subject; None: engine finds it


@dataclass
class Rule:
    meta: RuleMeta
    fn: Callable[[Any], Iterator[Hit]]


def rule(id: str, title: str, severity: str, remediation: str,
         frameworks: list[str] | tuple[str, ...] = (), description: str = "",
         layer: str | None = None):
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity}")

    def mark(fn: Callable[[Any], Iterator[Hit]]):
        family = fn.__module__.rsplit(".", 1)[-1]
        fn.rule = Rule(RuleMeta(id, title, severity, tuple(frameworks), remediation,  # type: ignore[attr-defined]
                                description or (fn.__doc__ or "").strip(), layer, family), fn)
        return fn
    return mark


@cache
def all_rules() -> dict[str, Rule]:
    """The catalog: every ``@rule`` of the rule families in this package, by id (found
    by the discovery step, scanner.core.plugins)."""
    out: dict[str, Rule] = {}
    for r in plugins.marked("rules", "rule"):
        if r.meta.id in out:
            raise ValueError(f"duplicate rule id {r.meta.id}")
        out[r.meta.id] = r
    return out


# Framework ids used across rules, in one place so the catalog stays consistent.
NHI1 = "OWASP-NHI:NHI1"  # Improper Offboarding
NHI2 = "OWASP-NHI:NHI2"  # Secret Leakage
NHI3 = "OWASP-NHI:NHI3"  # Vulnerable Third-Party NHI
NHI4 = "OWASP-NHI:NHI4"  # Insecure Authentication
NHI5 = "OWASP-NHI:NHI5"  # Overprivileged NHI
NHI7 = "OWASP-NHI:NHI7"  # Long-Lived Secrets
NHI9 = "OWASP-NHI:NHI9"  # NHI Reuse
CSF_AA01 = "NIST-CSF:PR.AA-01"  # identities and credentials are managed
CSF_AA05 = "NIST-CSF:PR.AA-05"  # access permissions are managed, least privilege
CIS_AWS_UNUSED = "CIS-AWS:1.12"  # credentials unused 45 days or more are disabled
CIS_AWS_ROTATE = "CIS-AWS:1.14"  # access keys rotated every 90 days or less
CIS_GCP_KEYS = "CIS-GCP:1.4"  # only GCP-managed service-account keys

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

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from scanner.core.model import SEVERITIES

# Where a record's system sits among the layers of a verdict.
SYSTEM_LAYERS = {
    "aws": "cloud", "gcp": "cloud", "azure": "cloud", "github": "code-hosting",
    "gitlab": "code-hosting", "kubernetes": "kubernetes", "iac": "iac", "okta": "directory",
    "roster": "directory", "scim": "saas", "slack": "saas", "vault": "secrets", "atlassian": "saas",
    "openai": "saas", "anthropic": "saas", "entra": "directory", "google_workspace": "directory",
}
CI_KINDS = {"ci_secret", "ci_variable", "actions_secret", "pipeline_schedule", "runner"}


def layer_of(system: str, kind: str = "") -> str:
    """The layer a record belongs to: CI secrets and variables are ci-cd whatever the host."""
    if kind in CI_KINDS:
        return "ci-cd"
    base = system.split(":", 1)[0]
    return SYSTEM_LAYERS.get(base, "saas")


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


RULES: dict[str, Rule] = {}


def rule(id: str, title: str, severity: str, remediation: str,
         frameworks: list[str] | tuple[str, ...] = (), description: str = "",
         layer: str | None = None):
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity}")

    def register(fn: Callable[[Any], Iterator[Hit]]):
        if id in RULES:
            raise ValueError(f"duplicate rule id {id}")
        family = fn.__module__.rsplit(".", 1)[-1]
        RULES[id] = Rule(RuleMeta(id, title, severity, tuple(frameworks), remediation,
                                  description or (fn.__doc__ or "").strip(), layer, family), fn)
        return fn
    return register


_LOADED = False


def all_rules() -> dict[str, Rule]:
    global _LOADED
    if not _LOADED:
        import rules
        for mod in pkgutil.iter_modules(rules.__path__):
            if mod.name not in ("base",) and not mod.name.startswith("_"):
                importlib.import_module(f"rules.{mod.name}")
        _LOADED = True
    return RULES


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

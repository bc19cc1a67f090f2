"""What the analysis of one file or blob yields: plain, picklable, cacheable facts.

No raw secret value ever sits in these objects (only SecretHits: fingerprint and hint),
so they can cross process boundaries and be cached on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from collectors.iac.agents import AgentFact
from scanner.core.secrets import SecretHit


@dataclass(slots=True)
class RefFact:
    """A name found in a file: an e-mail, an IAM ARN, an AWS key id, or a handle in a
    structured place (a CODEOWNERS owner, a Terraform username, an RBAC subject)."""

    line: int
    matched: str
    kind: str  # email, arn, aws_key_id, handle
    system: str | None = None  # aws, github, gitlab, kubernetes, okta (a guess), None
    context: str = ""  # "terraform aws_iam_user.alice", "CODEOWNERS /infra/", "RoleBinding dev/x"
    recreates: bool = False  # the IaC would create this account / grant this access
    resource_type: str = ""
    resource_name: str = ""


@dataclass(slots=True)
class FileFacts:
    kind: str  # terraform, tfstate, cloudformation, kubernetes, ci, codeowners, dotenv, ...
    refs: list[RefFact] = field(default_factory=list)
    hits: list[SecretHit] = field(default_factory=list)
    parse_error: str | None = None
    filtered: dict[str, int] = field(default_factory=dict)  # noise filter -> hits dropped
    verify_calls: int = 0  # identity-endpoint calls made (verify_live only)
    agents: list[AgentFact] = field(default_factory=list)  # MCP servers of an agent config

    def to_json(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives (same keys, same order), written out: asdict's
        generic deep copy was a second of the parent's serial time on 10,000 files."""
        return {"kind": self.kind, "refs": [_plain(r) for r in self.refs],
                "hits": [_plain(h) for h in self.hits], "parse_error": self.parse_error,
                "filtered": dict(self.filtered), "verify_calls": self.verify_calls,
                "agents": [_plain(a) for a in self.agents]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FileFacts":
        return cls(kind=d["kind"], refs=[RefFact(**r) for r in d["refs"]],
                   hits=[SecretHit(**h) for h in d["hits"]], parse_error=d.get("parse_error"),
                   filtered=d.get("filtered") or {}, verify_calls=d.get("verify_calls", 0),
                   agents=[AgentFact(**a) for a in d.get("agents") or []])


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(obj: Any) -> dict[str, Any]:
    """A flat dataclass (fields of str, int, bool, None, or lists of str) as a dict."""
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(f.name for f in fields(obj))
    out = {n: getattr(obj, n) for n in names}
    for n, v in out.items():
        if isinstance(v, list):
            out[n] = list(v)
    return out

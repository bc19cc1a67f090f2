"""BloodHound OpenGraph export of the identity graph.

Format followed: BloodHound's OpenGraph JSON (generic ingest), i.e.

    {"metadata": {"source_kind": "Residual"},
     "graph": {"nodes": [{"id": "...", "kinds": ["ResidualAccount", "Residual"], "properties": {...}}],
               "edges": [{"kind": "ResidualHasAccount",
                          "start": {"value": "...", "match_by": "id"},
                          "end": {"value": "...", "match_by": "id"}, "properties": {...}}]}}

Rules we keep: a node has at most three kinds, the first is its primary kind, all carry
the source kind ``Residual``; kinds and edge kinds are ``[A-Za-z0-9_]``; property values
are strings, numbers, booleans or arrays of strings (never null, never nested objects).
Node ids are the inventory's graph node ids (``account:aws:123|arn:...``), so a path in a
finding is a path in BloodHound. Nodes that a finding is about carry ``residual_findings``
(count) and ``residual_max_severity``, so a Cypher query can start from them.

Edges beyond the identity graph's, so that the documented Cypher reaches every finding:
``ResidualNamedBy`` from an identity to each IaC reference a finding resolved to it (the
collector leaves a reference's target empty; the reference rules resolve it against the
roster), and ``ResidualOwns`` from an identity to every account or resource whose owner
tag or annotation names it (the inventory keeps one link per account, so an owner tag on
an account linked by e-mail was a property only). Checked against BloodHound CE's ingest
schemas in the tests (tests/data/bloodhound/).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from reports import renderer
from scanner.core.graph import build_graph
from scanner.core.model import (
    Account, Credential, Exposure, Finding, Grant, Identity, Link, Reference, Resource, severity_rank,
)
from scanner.core.store import refined
from scanner.core.timeparse import json_default
from scanner.resolve import Resolver

SOURCE_KIND = "Residual"
NODE_KINDS = {"identity": "ResidualIdentity", "account": "ResidualAccount",
              "credential": "ResidualCredential", "resource": "ResidualResource",
              "principal": "ResidualPrincipal", "exposure": "ResidualExposure",
              "reference": "ResidualReference"}
EDGE_KINDS = {"is": "ResidualHasAccount", "owns": "ResidualOwns", "holds": "ResidualHoldsCredential",
              "exposes": "ResidualExposes", "named_by": "ResidualNamedBy",
              "direct": "ResidualMemberOf", "team": "ResidualMemberOf", "group": "ResidualMemberOf",
              "inherited": "ResidualMemberOf", "trust": "ResidualCanAssume",
              "binding": "ResidualBoundTo", "mapping": "ResidualMappedTo",
              "assignment": "ResidualAssignedTo"}


def _kind_word(value: str) -> str:
    return "".join(p.capitalize() for p in "".join(c if c.isalnum() else " " for c in value).split())


def _props(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if v is None or v == "":
            continue
        if isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, (list, tuple)):
            out[k] = [str(x) for x in v if x is not None]
        else:
            out[k] = json.dumps(v, sort_keys=True, default=json_default)
    return out


def scan_records(inv, scan_id: str) -> dict[str, list[Any]]:
    """The scan's records by kind (the deep pass's version of a record where there are
    two), read through the inventory's public API."""
    return {"identities": inv.load(Identity, scan_id),
            "accounts": list(refined(inv.iter(Account, scan_id)).values()),
            "credentials": list(refined(inv.iter(Credential, scan_id)).values()),
            "grants": inv.load(Grant, scan_id), "resources": inv.load(Resource, scan_id),
            "links": inv.load(Link, scan_id), "exposures": inv.load(Exposure, scan_id),
            "references": inv.load(Reference, scan_id)}


def scan_graph(records: dict[str, list[Any]]):
    """The scan's whole identity graph, from its records."""
    return build_graph(records["identities"], records["accounts"], records["credentials"],
                       records["grants"], records["resources"], records["links"],
                       records["exposures"], records["references"])


def build_opengraph(inv, scan_id: str) -> dict[str, Any]:
    records = scan_records(inv, scan_id)
    g = scan_graph(records)
    by_subject: dict[str, list[Finding]] = defaultdict(list)
    for f in inv.load(Finding, scan_id):
        if f.status != "waived":
            by_subject[f.subject].append(f)
    nodes = []
    for node_id, data in g.nodes(data=True):
        ntype = data.get("type", "principal")
        kinds = [NODE_KINDS.get(ntype, "ResidualNode")]
        sub = data.get("system") or ""
        if sub:
            kinds.append(f"Residual{_kind_word(sub.split(':', 1)[0])}")
        kinds.append(SOURCE_KIND)
        props = {"name": data.get("label") or node_id, "displayname": data.get("label") or node_id,
                 "objectid": node_id,
                 **{k: v for k, v in data.items() if k not in ("type", "label")}}
        found = by_subject.get(node_id, [])
        if found:
            props["residual_findings"] = len(found)
            props["residual_max_severity"] = max(found, key=lambda f: severity_rank(f.severity)).severity
            props["residual_rules"] = sorted({f.rule for f in found})
        nodes.append({"id": node_id, "kinds": kinds[:3], "properties": _props(props)})
    edges = []
    for src, dst, data in g.edges(data=True):
        rel = data.get("rel", "related")
        edges.append({"kind": EDGE_KINDS.get(rel, f"Residual{_kind_word(rel)}"),
                      "start": {"value": src, "match_by": "id"},
                      "end": {"value": dst, "match_by": "id"},
                      "properties": _props({"rel": rel, **{k: v for k, v in data.items() if k != "rel"}})})
    known = {(e["start"]["value"], e["end"]["value"]) for e in edges}
    resolver = Resolver(records["identities"])
    extra: list[tuple[str, str, str, dict[str, Any]]] = []
    for subject, found in by_subject.items():
        for f in found:
            if subject.startswith("reference:") and f.identity:
                extra.append((f"identity:{f.identity}", subject, "ResidualNamedBy",
                              {"rel": "named_by", "rule": f.rule,
                               "resolved_by": (f.evidence or {}).get("resolved_by", "")}))
    for rec in (*records["accounts"], *records["resources"]):
        for key, _value, ident in resolver.tagged_owners(rec):
            extra.append((ident.node, rec.node, "ResidualOwns", {"rel": "owns", "via": f"tag:{key}"}))
    for src, dst, kind, props in extra:
        if (src, dst) not in known and src in g and dst in g:
            known.add((src, dst))
            edges.append({"kind": kind, "start": {"value": src, "match_by": "id"},
                          "end": {"value": dst, "match_by": "id"}, "properties": _props(props)})
    return {"metadata": {"source_kind": SOURCE_KIND},
            "graph": {"nodes": nodes, "edges": edges}}


@renderer("bloodhound")
def render_bloodhound(inv, scan_id: str, given: Any = None) -> str:
    return json.dumps(build_opengraph(inv, scan_id), indent=2, ensure_ascii=False)

"""The identity graph (networkx): identity -> account -> credential / grant -> resource,
exposure -> credential, reference -> what it names, owner -> NHI.

Node ids are the records' ``node`` properties (``identity:alice@example.com``,
``account:aws:123|arn:...``). Rules take their evidence paths from it and the BloodHound
export walks it. It is built from what a question needs: ``build_graph`` takes the
records it is given, so a targeted verify builds only the neighbourhood of one identity.
"""

from __future__ import annotations

from typing import Iterable

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a graph is built: the CLI starts without it
    import networkx as nx

from scanner.core.model import (
    Account, Credential, Exposure, Grant, Identity, Link, Reference, Resource,
)


def build_graph(identities: Iterable[Identity], accounts: Iterable[Account],
                credentials: Iterable[Credential] = (), grants: Iterable[Grant] = (),
                resources: Iterable[Resource] = (), links: Iterable[Link] = (),
                exposures: Iterable[Exposure] = (), references: Iterable[Reference] = (),
                ) -> nx.DiGraph:
    import networkx as nx
    g = nx.DiGraph()
    idents = list(identities)
    for i in idents:
        g.add_node(i.node, type="identity", label=i.id, status=i.status, kind=i.kind)
    for i in idents:
        if i.owner:
            g.add_edge(f"identity:{i.owner}", i.node, rel="owns")
    account_nodes: dict[str, str] = {}
    arn_nodes: dict[str, str] = {}
    for a in accounts:
        g.add_node(a.node, type="account", label=a.login or a.native_id, system=a.system,
                   kind=a.kind, status=a.status)
        account_nodes[a.uid] = a.node
        arn_nodes[a.native_id] = a.node
    for l in links:
        g.add_edge(f"identity:{l.identity}", f"account:{l.account}", rel=l.relation,
                   evidence=l.evidence, confidence=l.confidence)
    for c in credentials:
        g.add_node(c.node, type="credential", label=c.name or c.native_id, system=c.system,
                   kind=c.kind, status=c.status)
        if c.holder:
            g.add_edge(f"account:{c.holder}", c.node, rel="holds")
    for r in resources:
        g.add_node(r.node, type="resource", label=r.name or r.native_id, system=r.system,
                   kind=r.kind)
    for gr in grants:
        src = account_nodes.get(gr.principal) or arn_nodes.get(gr.principal) or f"principal:{gr.principal}"
        if src not in g:
            g.add_node(src, type="principal", label=gr.principal)
        dst = f"resource:{gr.resource}"
        if dst not in g:
            g.add_node(dst, type="resource", label=gr.resource)
        g.add_edge(src, dst, rel=gr.via, permission=gr.permission)
    for e in exposures:
        g.add_node(e.node, type="exposure", label=f"{e.detector} {e.hint}", location=e.location)
        if e.matched_credential:
            g.add_edge(e.node, f"credential:{e.matched_credential}", rel="exposes")
    for r in references:
        g.add_node(r.node, type="reference", label=r.matched, location=r.location)
        target = {"identity": f"identity:{r.target}", "account": f"account:{r.target}",
                  "credential": f"credential:{r.target}"}.get(r.target_kind)
        if target and r.target:
            g.add_edge(target, r.node, rel="named_by")
    return g


def path_between(g: nx.DiGraph, source: str, target: str) -> list[str]:
    """Shortest path from an identity to an object, following edges either way (an
    exposure points at the credential it exposes); [source, target] if none."""
    import networkx as nx
    if source not in g or target not in g:
        return [n for n in (source, target) if n]
    try:
        return nx.shortest_path(g, source, target)
    except nx.NetworkXNoPath:
        try:
            return nx.shortest_path(g.to_undirected(as_view=True), source, target)
        except nx.NetworkXNoPath:
            return [source, target]

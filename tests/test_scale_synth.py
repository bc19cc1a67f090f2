"""The synthetic estate (fixtures/synth.py), the engine on it, the per-identity graph,
the column-wise inventory reader, and the benchmark's summary line, all at small N."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from fixtures.synth import generate, write_roster_csv
from scanner.core.graph import path_between
from scanner.core.model import Account, Credential, Identity
from scanner.core.options import Policy
from scanner.core.columns import cell_in as _cell_in
from scanner.core.store import TABLES, Inventory
from scanner.engine import load_context, run_rules
from scanner.pipeline import _resolve_into
from tests.conftest import ROOT

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _dump(inv: Inventory, scan_id: str) -> dict[str, list]:
    out = {}
    for t in TABLES.values():
        if t.name in ("links", "findings"):  # computed later, not generated
            continue
        cols = ", ".join(f'"{n}"' for n, _ in t.columns)
        out[t.name] = sorted(map(repr, inv.query(f'SELECT {cols} FROM "{t.name}" WHERE scan_id = ?', [scan_id])))
    return out


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    """40 people, resolved and analysed once for the whole module."""
    tmp = tmp_path_factory.mktemp("synth")
    inv = Inventory(tmp / "s.duckdb")
    r = generate(inv, 40, seed=3, chunk=7)
    _resolve_into(inv, r.scan_id, inv.load(Identity, r.scan_id))
    ctx = load_context(inv, r.scan_id, Policy(), NOW)
    findings, errors = run_rules(ctx)
    yield inv, r, ctx, findings, errors
    inv.close()


def test_deterministic_and_streamed(tmp_path, estate):
    inv, r, *_ = estate
    with Inventory(tmp_path / "a.duckdb") as a, Inventory(tmp_path / "b.duckdb") as b:
        ra = generate(a, 40, seed=3, chunk=500)  # one batch instead of six: same estate
        rb = generate(b, 40, seed=4)
        assert _dump(a, ra.scan_id) == _dump(inv, r.scan_id)
        assert _dump(b, rb.scan_id)["accounts"] != _dump(a, ra.scan_id)["accounts"]
    assert ra.counts == r.counts and r.records == sum(v for k, v in r.counts.items() if k != "coverage")


def test_shape_of_the_estate(estate):
    inv, r, ctx, *_ = estate
    humans = [i for i in ctx.identities.values() if i.kind == "human"]
    assert len(humans) == 40
    nhi_accounts = [a for a in ctx.accounts.values() if a.kind != "user"]
    assert 40 * 40 <= len(nhi_accounts) <= 40 * 60  # 40-60 NHIs per person
    assert r.leavers and all(ctx.identities[i].is_leaver for i in r.leavers)
    kinds = Counter(c.kind for c in ctx.credentials)
    assert {"ssh_key", "access_key", "sa_token", "pat", "deploy_key", "api_key"} <= set(kinds)
    # most accounts resolve to someone (aliases, owner tags and annotations, e-mails)
    assert len(ctx.links) > 0.9 * len(ctx.accounts)
    # timestamps come back as aware UTC datetimes, as collectors emit them
    assert all(c.tzinfo is not None for c in (x.created_at for x in ctx.credentials) if c)


def test_roster_csv_matches(tmp_path, estate):
    inv, r, ctx, *_ = estate
    from collectors.registry import roster_sources
    from collectors.roster import RosterContext
    path = write_roster_csv(tmp_path / "roster.csv", 40, seed=3)
    loaded = {i.id: i for i in roster_sources()["csv"].load({"path": str(path)}, RosterContext(tmp_path))}
    for ident in (i for i in ctx.identities.values() if i.kind == "human"):
        assert loaded[ident.id].status == ident.status
        assert set(loaded[ident.id].aliases) == set(ident.aliases)


def test_generic_rules_fire_on_leavers_only(estate):
    inv, r, ctx, findings, errors = estate
    assert not errors
    by_rule = Counter(f.rule for f in findings)
    for rid in ("account.active_after_termination", "nhi.owner_terminated", "account.unowned",
                "credential.unused"):
        assert by_rule[rid] > 0, (rid, by_rule)
    leavers = set(r.leavers)
    for f in findings:
        if f.rule in ("nhi.owner_terminated", "account.active_after_termination",
                      "credential.live_of_leaver", "credential.used_after_termination"):
            assert f.identity in leavers, f
    # near miss: an active person's NHIs are owned, not residue
    active = next(i for i in ctx.identities.values() if i.kind == "human" and i.status == "active")
    assert not [f for f in findings if f.identity == active.id and f.rule == "nhi.owner_terminated"]


def test_graph_for_gives_the_whole_graph_paths(estate):
    inv, r, ctx, findings, _ = estate
    leaver = r.leavers[0]
    sub = ctx.graph_for(leaver)
    whole = ctx.graph
    assert 1 < sub.number_of_nodes() < whole.number_of_nodes() / 5
    mine = [f for f in findings if f.identity in r.leavers]
    assert mine
    for f in mine:
        assert ctx.path_for(f.identity, f.subject) == path_between(whole, f"identity:{f.identity}", f.subject)
    # owned NHIs (owner tags) are in the leaver's neighbourhood
    owned = [u for u, l in ctx.links.items() if l.identity == leaver and l.relation == "owns"]
    assert owned and all(f"account:{u}" in sub for u in owned)


def test_path_without_the_whole_graph_past_the_threshold(estate, monkeypatch):
    import rules.context
    inv, r, _, _, _ = estate
    ctx = load_context(inv, r.scan_id, Policy(), NOW)
    monkeypatch.setattr(rules.context, "WHOLE_GRAPH_MAX_RECORDS", 10)
    findings, _ = run_rules(ctx)
    assert "graph" not in ctx.__dict__  # the whole-estate graph was never built
    assert any(len(f.path) >= 2 for f in findings if f.identity)


def test_column_reader_equals_row_reader(estate):
    inv, r, *_ = estate
    for cls in (Account, Credential, Identity):
        t = TABLES[cls]
        cols = ", ".join(f'"{n}"' for n, _ in t.columns)
        rows = inv.query(f'SELECT {cols} FROM "{t.name}" WHERE scan_id = ?', [r.scan_id])
        slow = [cls(**{n: _cell_in(k, v) for (n, k), v in zip(t.columns, row)}) for row in rows]
        assert inv.load(cls, r.scan_id) == slow


def test_benchmark_summary_line(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--people", "20",
                        "--no-append", "--dir", str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"people=20 records=(\d+) total_s=([\d.]+) peak_rss_mb=(\d+) verify_s=([\d.]+)", last)
    assert m, last
    assert int(m.group(1)) > 20 * 40
    assert "| 20 |" in p.stdout  # the table


def test_neighbourhood_context_gives_the_same_answers(estate):
    """load_neighbourhood (SQL-filtered, for verify and the leavers' graphs) holds the
    leaver's subgraph and yields the same identity findings as the whole-estate context."""
    from rules.base import all_rules
    from scanner.engine import load_neighbourhood

    inv, r, ctx, findings, _ = estate
    generic = {rid: rl for rid, rl in all_rules().items()
               if rl.meta.family in ("accounts", "credentials", "grants")}
    trust_seen = False
    for leaver in r.leavers:
        nb = load_neighbourhood(inv, r.scan_id, [leaver], Policy(), NOW)
        extra = set(nb.graph.nodes) - set(ctx.graph_for(leaver).nodes)
        # plus only trust grants naming the leaver's IAM user by ARN (what that rule needs)
        assert all(n.startswith(("principal:arn:", "resource:")) for n in extra), extra
        assert set(ctx.graph_for(leaver).nodes) <= set(nb.graph.nodes)
        assert nb.size() < ctx.size() / 5
        whole = {f.fingerprint for f in findings if f.identity == leaver and f.rule in generic}
        mine, errors = run_rules(nb, generic)
        assert not errors
        assert {f.fingerprint for f in mine if f.identity == leaver} == whole
        trust_seen |= any(f.rule == "grant.trust_names_leaver" for f in mine)
    assert trust_seen  # incl. trust policies naming a leaver's (deleted) IAM user by ARN

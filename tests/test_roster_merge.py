"""Roster sources merged: CSV + Okta (+ SCIM), by e-mail, with a documented precedence."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.roster import merge
from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, FakeOkta, demo_okta, okta_user
from fixtures.fake_scim import FakeScim, scim_user
from scanner.config import load_config
from scanner.core.model import Coverage, Identity
from scanner.core.store import Inventory, Sink
from scanner.pipeline import load_roster

ROOT = Path(__file__).resolve().parents[1]


def ident(id: str, status: str = "active", when: str | None = None, source: str = "a",
          **kw) -> Identity:
    return Identity(id=id, status=status, emails=kw.pop("emails", [id] if "@" in id else []),
                    terminated_at=datetime.fromisoformat(when).replace(tzinfo=UTC) if when else None,
                    sources=[source], **kw)


# --- merge, unit ----------------------------------------------------------------------------


def test_most_final_status_wins_in_either_order():
    for batches in ([[ident("a@x.com", source="csv")], [ident("a@x.com", "terminated", "2026-11-01", "okta")]],
                    [[ident("a@x.com", "terminated", "2026-11-01", "okta")], [ident("a@x.com", source="csv")]]):
        m, = merge(batches)
        assert m.status == "terminated" and m.terminated_at == datetime(2026, 11, 1, tzinfo=UTC)
        assert m.attributes["roster_status"] == {"csv": "active", "okta": "terminated"}
        assert sorted(m.sources) == ["csv", "okta"]


def test_same_status_earliest_date_wins():
    m, = merge([[ident("a@x.com", "terminated", "2026-11-05", "csv")],
                [ident("a@x.com", "terminated", "2026-11-01", "okta")]])
    assert m.terminated_at == datetime(2026, 11, 1, tzinfo=UTC)
    m, = merge([[ident("a@x.com", "terminated", "2026-11-01", "csv")],
                [ident("a@x.com", "terminated", "2026-11-05", "okta")]])
    assert m.terminated_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_matching_is_by_any_email_case_folded_and_first_source_keeps_id_and_name():
    a = ident("emp-42", name="Ann", emails=["ann@x.com"], source="csv", aliases=["github:ann"])
    b = ident("ann@x.com", "suspended", "2026-11-15", "okta", name="Ann Okta",
              emails=["ann@x.com", "ann.alt@x.com"], aliases=["okta:ann@x.com"])
    c = ident("ANN.ALT@x.com", source="scim:hr", emails=["ann.alt@x.com"])
    m, = merge([[a], [b], [c]])
    assert (m.id, m.name, m.status) == ("emp-42", "Ann", "suspended")
    assert m.emails == ["ann@x.com", "ann.alt@x.com"]
    assert m.aliases == ["github:ann", "okta:ann@x.com"]
    assert m.sources == ["csv", "okta", "scim:hr"]


def test_distinct_people_stay_distinct():
    assert len(merge([[ident("a@x.com")], [ident("b@x.com")]])) == 2


# --- CSV + Okta + SCIM through the real config and loaders -----------------------------------


@pytest.fixture
def okta():
    with demo_okta(FakeOkta(token=OKTA_TOKEN)) as s:
        s.users.append(okta_user("00ufrank00000000f006", "frank@example.com", "Frank", "Fox",
                                 "DEPROVISIONED", status_changed="2026-11-03T10:00:00.000Z"))
        yield s


def config(tmp_path: Path, okta: FakeOkta, token: str = OKTA_TOKEN, scim: FakeScim | None = None):
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp_path / "roster.csv")
    extra = (f"  - scim: {{name: hr, url: '{scim.base_url}', token: '{scim.token}'}}\n" if scim else "")
    (tmp_path / "residual.yaml").write_text(
        f"inventory: {tmp_path / 'r.duckdb'}\n"
        "roster:\n"
        "  - csv: roster.csv\n"
        f"  - okta: {{domain: acme.okta.com, base_url: '{okta.url}', token: '{token}'}}\n" + extra)
    return load_config(tmp_path / "residual.yaml")


def test_csv_and_okta_merge(okta, tmp_path):
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    roster = {i.id: i for i in load_roster(config(tmp_path, okta), sink)}
    sink.flush()
    alice = roster["alice@example.com"]
    # HR terminated alice; Okta still has her ACTIVE: terminated wins, and both are remembered
    assert alice.status == "terminated" and alice.terminated_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert alice.attributes["roster_status"] == {"csv:roster.csv": "terminated",
                                                 "okta:acme.okta.com": "active"}
    assert "okta:alice@example.com" in alice.aliases and "github:alice-gh" in alice.aliases
    # carol: both say terminated, the CSV on 2026-10-15 (the whole day), Okta at 17:00 that
    # day: Okta's time is the earlier departure, and no longer a date alone
    carol = roster["carol@example.com"]
    assert carol.terminated_at == datetime(2026, 10, 15, 17, tzinfo=UTC)
    assert "terminated_on" not in carol.attributes and carol.after_termination == carol.terminated_at
    # alice: Okta says ACTIVE, so the CSV's date alone stands: from the end of 2026-11-01
    assert alice.attributes["terminated_on"] == "2026-11-01"
    assert alice.after_termination == datetime(2026, 11, 2, tzinfo=UTC)
    # frank exists only in Okta, DEPROVISIONED: a leaver the CSV never knew about
    frank = roster["frank@example.com"]
    assert frank.status == "terminated" and frank.sources == ["okta:acme.okta.com"]
    assert frank.terminated_at == datetime(2026, 11, 3, 10, tzinfo=UTC)
    # NHIs from the CSV are untouched
    assert roster["svc-deploy"].owner == "alice@example.com"
    rows = {c.collector: c for c in inv.load(Coverage, scan)}
    assert rows["roster:okta"].status == "ok" and rows["roster:okta"].api_calls == 2
    assert rows["roster:okta"].records == 6
    assert okta.writes == []


def test_okta_roster_outage_is_a_failed_directory_row_not_a_crash(okta, tmp_path):
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    roster = {i.id: i for i in load_roster(config(tmp_path, okta, token="bad-token-not-real"), sink)}
    sink.flush()
    assert roster["alice@example.com"].sources == ["csv:roster.csv"]
    row, = [c for c in inv.load(Coverage, scan) if c.collector == "roster:okta"]
    assert (row.status, row.layer) == ("failed", "directory")
    assert "E0000011" in row.error and "bad-token" not in row.error


def test_three_sources(okta, tmp_path):
    with FakeScim(token="hr-token-not-real") as hr:
        hr.users = [scim_user("1", "bob@example.com", active=False, last_modified="2026-11-20T09:00:00Z")]
        roster = {i.id: i for i in load_roster(config(tmp_path, okta, scim=hr))}
    bob = roster["bob@example.com"]
    assert bob.status == "terminated" and bob.terminated_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert bob.sources == ["csv:roster.csv", "okta:acme.okta.com", "scim:hr"]
    assert bob.attributes["roster_status"]["scim:hr"] == "terminated"


# --- a date alone: the end of that day ----------------------------------------------------------


def test_a_date_alone_is_after_termination_from_the_end_of_that_day():
    from collectors.csv_roster.roster import identities_from_csv
    day, midnight, timed = identities_from_csv(
        "id,status,terminated_at\n"
        "a@x.com,terminated,2026-11-30\n"
        "b@x.com,terminated,2026-11-30T00:00:00Z\n"
        "c@x.com,terminated,2026-11-30T17:03:00+01:00\n", "roster.csv")
    assert day.terminated_at == midnight.terminated_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert day.attributes == {"terminated_on": "2026-11-30"} and midnight.attributes == {}
    assert day.after_termination == datetime(2026, 12, 1, tzinfo=UTC)
    assert midnight.after_termination == datetime(2026, 11, 30, tzinfo=UTC)  # a time is taken as given
    assert timed.after_termination == datetime(2026, 11, 30, 16, 3, tzinfo=UTC)


def test_merge_a_date_alone_with_a_time_that_day_keeps_the_time():
    """HR says 2026-11-30 (the whole day), Okta deactivated her at 17:03 that day: from
    17:03 is the earlier departure, whichever source comes first."""
    hr = ident("a@x.com", "terminated", "2026-11-30", "csv", attributes={"terminated_on": "2026-11-30"})
    okta = ident("a@x.com", "terminated", "2026-11-30T17:03:00", "okta")
    for batches in ([[hr], [okta]], [[okta], [hr]]):
        m, = merge(batches)
        assert m.terminated_at == datetime(2026, 11, 30, 17, 3, tzinfo=UTC)
        assert "terminated_on" not in m.attributes
        assert m.after_termination == m.terminated_at
    # an HR date the day before Okta's time: the date wins, and stays a whole day
    hr = ident("a@x.com", "terminated", "2026-11-29", "csv", attributes={"terminated_on": "2026-11-29"})
    for batches in ([[hr], [okta]], [[okta], [hr]]):
        m, = merge(batches)
        assert m.terminated_at == datetime(2026, 11, 29, tzinfo=UTC)
        assert m.attributes["terminated_on"] == "2026-11-29"
        assert m.after_termination == datetime(2026, 11, 30, tzinfo=UTC)

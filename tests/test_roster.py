"""The roster CSV: columns as DESIGN.md; errors name the line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.csv_roster.roster import identities_from_csv
from collectors.roster import merge
from scanner.core.errors import RosterError
from scanner.core.model import Identity

HEADER = "id,name,email,kind,status,terminated_at,owner,aliases\n"


def test_parses_people_and_nhis():
    out = identities_from_csv(HEADER +
        "alice@example.com,Alice,Alice@Example.com,human,terminated,2026-11-01,,github:alice-gh;aws:alice\n"
        "svc-deploy,CI deployer,,service,active,,alice@example.com,aws:svc-deploy\n", "r.csv")
    alice, svc = out
    assert alice.emails == ["alice@example.com"] and alice.status == "terminated"
    assert alice.terminated_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert alice.aliases == ["github:alice-gh", "aws:alice"]
    assert svc.kind == "service" and svc.owner == "alice@example.com"


@pytest.mark.parametrize("row, needle", [
    ("x@e.com,X,x@e.com,robot,active,,,", "line 2: kind 'robot'"),
    ("x@e.com,X,x@e.com,human,gone,,,", "line 2: status 'gone'"),
    ("x@e.com,X,x@e.com,human,terminated,yesterday,,", "line 2: terminated_at 'yesterday'"),
    ("x@e.com,X,x@e.com,human,active,,,noalias", "line 2: alias 'noalias'"),
    (",X,,human,active,,,", "line 2: neither id nor email"),
])
def test_errors_name_the_line(row, needle):
    with pytest.raises(RosterError) as exc:
        identities_from_csv(HEADER + row + "\n", "r.csv")
    assert needle in str(exc.value)


def test_duplicate_and_unknown_column():
    with pytest.raises(RosterError, match="line 3: duplicate"):
        identities_from_csv(HEADER + "a@e.com,,a@e.com,,,,,\na@e.com,,a@e.com,,,,,\n", "r.csv")
    with pytest.raises(RosterError, match="unknown column 'dept'"):
        identities_from_csv("id,dept\nx,y\n", "r.csv")


def test_merge_by_email_most_final_status_wins():
    csv = [Identity("alice@example.com", "Alice", emails=["alice@example.com"], sources=["csv"])]
    okta = [Identity("00u1", "", status="terminated", emails=["Alice@example.com".lower()],
                     terminated_at=datetime(2026, 11, 1, tzinfo=UTC), aliases=["okta:alice"],
                     sources=["okta"])]
    (m,) = merge([csv, okta])
    assert m.id == "alice@example.com" and m.status == "terminated"
    assert m.sources == ["csv", "okta"] and m.aliases == ["okta:alice"]

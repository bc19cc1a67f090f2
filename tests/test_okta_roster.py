"""The ``okta`` roster source: DEPROVISIONED / SUSPENDED become terminated / suspended."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.okta.roster import load_okta_roster, user_to_identity
from collectors.roster import RosterContext
from fixtures.fake_okta import FakeOkta, okta_user
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLE = (SAMPLES_ROOT / "okta/users_list.json")


def test_statuses_from_the_sample():
    if not SAMPLE.exists():
        pytest.skip("reference sample not available")
    idents = {i.id: i for i in (user_to_identity(u, "acme.okta.com")
                                for u in json.loads(SAMPLE.read_text()))}
    assert idents["alice.smith@example.com"].status == "active"
    assert idents["alice.smith@example.com"].terminated_at is None
    bob = idents["bob.jones@example.com"]
    assert bob.status == "suspended" and bob.terminated_at == datetime(2024, 10, 1, 9, 30, tzinfo=UTC)
    carol = idents["carol.white@example.com"]
    assert carol.status == "terminated" and carol.terminated_at == datetime(2024, 11, 4, 16, 45, tzinfo=UTC)
    assert carol.name == "Carol White" and carol.aliases == ["okta:carol.white@example.com"]
    assert carol.attributes["okta_status"] == "DEPROVISIONED"


def test_loader_asks_for_deprovisioned_users_and_counts_calls():
    with FakeOkta(token="t-not-real") as s:
        s.users = [okta_user("00u1", "a@example.com", "A", "A"),
                   okta_user("00u2", "b@example.com", "B", "B", "DEPROVISIONED",
                             status_changed="2026-11-02T00:00:00.000Z"),
                   okta_user("00u3", "c@example.com", "C", "C", "STAGED")]
        ctx = RosterContext(base_dir=Path("."))
        idents = {i.id: i.status for i in load_okta_roster(
            {"domain": "acme.okta.com", "base_url": s.url, "token": "t-not-real", "page_size": 200}, ctx)}
        assert idents == {"a@example.com": "active", "b@example.com": "terminated",
                          "c@example.com": "active"}
        assert ctx.api_calls == {"acme.okta.com": 2}
        assert [r.arg("filter") for r in s.requests] == [None, 'status eq "DEPROVISIONED"']
        assert s.writes == []

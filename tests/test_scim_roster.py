"""The ``scim`` roster source: a SCIM server as the system of record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.roster import RosterContext
from collectors.scim.roster import load_scim_roster, user_to_identity
from fixtures.fake_scim import FakeScim, scim_user
from scanner.config import load_config
from scanner.core.errors import ConfigError


@pytest.fixture
def hr():
    with FakeScim(token="hr-token-not-real", max_results=2, prefix="/scim/v2") as s:
        s.users = [
            scim_user("1", "ann@example.com", display="Ann", employee_number="7"),
            scim_user("2", "ben@example.com", display="Ben", active=False,
                      last_modified="2026-10-02T16:00:00Z"),
            scim_user("3", "CAT@Example.com", emails=["cat@example.com", "cat@home.example"]),
        ]
        yield s


def test_active_false_is_terminated_at_last_modified(hr):
    ctx = RosterContext(base_dir=Path("."))
    block = {"name": "hr", "url": hr.base_url, "token": hr.token, "page_size": 100, "filter": None}
    idents = {i.id: i for i in load_scim_roster(block, ctx)}
    assert set(idents) == {"ann@example.com", "ben@example.com", "cat@example.com"}
    ben = idents["ben@example.com"]
    assert ben.status == "terminated"
    assert ben.terminated_at == datetime(2026, 10, 2, 16, 0, tzinfo=UTC)
    ann = idents["ann@example.com"]
    assert ann.status == "active" and ann.terminated_at is None
    assert ann.attributes["employee_number"] == "7" and ann.sources == ["scim:hr"]
    assert idents["cat@example.com"].emails == ["cat@example.com", "cat@home.example"]
    # 3 users, server pages of 2: two calls, counted under the roster target (its url)
    assert hr.count("/scim/v2/Users") == 2 and ctx.api_calls[hr.base_url] == 2
    assert hr.writes == []


def test_malformed_user_is_skipped():
    with pytest.raises(ValueError):
        user_to_identity({"id": "x"}, "hr")


def test_scim_roster_config_is_validated(tmp_path):
    cfg = tmp_path / "residual.yaml"
    cfg.write_text("roster:\n  - scim: {name: hr, url: 'https://hr.example/scim/v2', bogus: 1}\n")
    with pytest.raises(ConfigError, match=r"roster\[0\]\.scim\.bogus: unknown key"):
        load_config(cfg)
    cfg.write_text("roster:\n  - scim: {url: 'https://hr.example/scim/v2'}\n")
    with pytest.raises(ConfigError, match=r"roster\[0\]\.scim\.name: required key is missing"):
        load_config(cfg)

"""Read-only enforcement for the Google collectors: every request the google_workspace and
gcp collectors send (bulk pass, deep pass, the IAM fallback, the roster source) is a GET or
one of the read-only POSTs (the OAuth token grant, getIamPolicy, Logging entries.list),
and the fake, which refuses and records anything else, saw no write."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collectors.base import CollectorContext, Scope
from collectors.gcp.collector import GcpCollector
from collectors.google_workspace.collector import GoogleWorkspaceCollector
from collectors.google_workspace.roster import load_workspace_roster
from fixtures.fake_google import ADMIN, start_demo
from scanner.core.store import Inventory, Sink
from collectors.roster import RosterContext
from scanner.core.secrets import Fingerprinter

READ_POSTS = (r"/token", r"/v1/projects/[^/]+/serviceAccounts/[^/]+:getIamPolicy",
              r"/v3/(projects|folders|organizations)/[^/]+:getIamPolicy", r"/v2/entries:list")


def test_every_request_is_a_read(tmp_path):
    s = start_demo(allow_revoke=True)  # even where a write would be let through, none is sent
    try:
        key = str(s.write_key_file(tmp_path / "key.json"))
        inv = Inventory(":memory:")
        sink = Sink(inv, inv.begin_scan("ro"))
        ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path,
                               now=datetime(2026, 11, 21, 12, tzinfo=UTC), base_dir=tmp_path)
        ws = GoogleWorkspaceCollector({"customer": "C0acme123", "subject": ADMIN, "credentials_file": key,
                                       "api_endpoint": s.url}, ctx)
        ws.collect(sink)
        ws.deepen(sink, Scope(emails={"alice@example.com", "carol@example.com", "dave@example.com"}))
        for mode in ("auto", "off"):
            GcpCollector({"organization": "445566778899", "credentials_file": key, "api_endpoint": s.url,
                          "asset_inventory": mode}, ctx).collect(sink)
        load_workspace_roster({"customer": "C0acme123", "subject": ADMIN, "credentials_file": key,
                               "api_endpoint": s.url}, RosterContext(base_dir=tmp_path))
        sink.flush()
    finally:
        s.stop()
    assert s.writes == [] and s.revocations == []
    methods = {r.method for r in s.requests}
    assert methods <= {"GET", "POST"}
    posts = {r.path for r in s.requests if r.method == "POST"}
    assert all(any(re.fullmatch(p, path) for p in READ_POSTS) for path in posts), posts
    called = set(s.calls())
    assert {"directory.tokens.list", "iam.serviceAccounts.getIamPolicy", "crm.projects.getIamPolicy",
            "logging.entries.list", "cloudasset.searchAllIamPolicies"} <= called  # every part ran
    assert "directory.users.signOut" not in called

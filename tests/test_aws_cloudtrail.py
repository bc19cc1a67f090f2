"""The AWS collector's CloudTrail part (``aws[].cloudtrail: true``) against moto (IAM) and
the fake CloudTrail (moto has no LookupEvents): what a leaver did after she left, and what
was done to her access, with who did it, for ``residual evidence``."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.aws.cloudtrail import transform_event
from collectors.aws.collector import AwsCollector
from collectors.base import CollectorContext, Scope
from fixtures import fake_cloudtrail as ct
from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from scanner.core.model import Activity, Coverage
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def test_a_key_deleted_by_an_administrator_is_a_removal_by_them():
    bob = ct.iam_user_identity("bob", ct.BOB_CONSOLE_KEY)
    ev = ct.cloudtrail_event("DeleteAccessKey", "iam.amazonaws.com", "2026-10-15T17:06:00Z", bob,
                             request={"userName": "carol", "accessKeyId": ct.CAROL_KEY},
                             resources=[("AWS::IAM::AccessKey", ct.CAROL_KEY), ("AWS::IAM::User", "carol")])
    act = transform_event(ev, "aws:demo", "aws:demo|carol")
    assert (act.category, act.actor, act.attributes["removed_key_id"]) == ("removal", "bob", ct.CAROL_KEY)
    # reactivating a key is no removal; deactivating one is
    on = ct.cloudtrail_event("UpdateAccessKey", "iam.amazonaws.com", "2026-10-15T17:00:00Z", bob,
                             request={"userName": "carol", "accessKeyId": ct.CAROL_KEY, "status": "Active"})
    assert transform_event(on, "aws:demo", None).category == "use"


def test_leavers_events_and_removals_of_a_user_that_is_gone(tmp_path, monkeypatch):
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    with AwsServer() as aws, ct.FakeCloudTrail() as trail:
        planted = plant_demo(aws.url)
        ct.demo_cloudtrail(trail, alice_keys=tuple(planted["keys"]["alice"]))
        # an administrator reads carol's user: that is not carol's use, and not kept
        trail.add_event(ct.cloudtrail_event("GetUser", "iam.amazonaws.com", "2026-10-16T09:00:00Z",
                                            ct.iam_user_identity("bob"), read_only=True,
                                            request={"userName": "carol"},
                                            resources=[("AWS::IAM::User", "carol")]))
        ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path, now=NOW)
        cfg = {k: (list(o.default) if isinstance(o.default, list) else o.default)
               for k, o in AwsCollector.options.items()}
        cfg.update({"name": "demo", "endpoint_url": aws.url, "cloudtrail": True,
                    "cloudtrail_endpoint_url": trail.url})
        col = AwsCollector(cfg, ctx)
        inv = Inventory(":memory:")
        sid = inv.begin_scan("test")
        sink = Sink(inv, sid)
        col.collect(sink)
        col.deepen(sink, Scope(logins={"aws": {"alice", "carol"}}, emails={"alice@example.com"}))
        sink.flush()
    acts = inv.load(Activity, sid)
    by = {(a.action, a.category): a for a in acts}
    logins = sorted(a.at for a in acts if a.action == "ConsoleLogin")
    assert logins[-1] == datetime(2026, 11, 3, 9, 15, tzinfo=UTC)  # boto3's datetime, kept (was None)
    assert by[("ConsoleLogin", "session")].actor == "alice"
    removal = {a.action: a for a in acts if a.category == "removal"}
    assert set(removal) == {"UpdateAccessKey", "DeleteAccessKey"}  # carol's user is gone; CloudTrail is not
    assert all(a.actor == "bob" and a.subject_account and a.subject_account.endswith(":user/carol")
               for a in removal.values())
    assert removal["DeleteAccessKey"].attributes["removed_key_id"] == ct.CAROL_KEY
    assert removal["DeleteAccessKey"].at == datetime(2026, 10, 15, 17, 6, tzinfo=UTC)
    assert not [a for a in acts if a.action == "GetUser"]  # an admin reading her user is not her use
    assert not [a for a in acts if a.actor == "bob" and a.category != "removal"]  # bob is not in scope
    cov = [c for c in inv.load(Coverage, sid) if c.target.endswith("/cloudtrail")]
    assert cov and all(c.status == "ok" for c in cov) and cov[0].attributes["users_gone"] == 1

"""Watch-mode event sources and sinks against real HTTP fakes on 127.0.0.1: the Okta
System Log (paging, polling cursor), a SCIM app's ``active`` flag, the webhook sink; the
loop's exactly-once promise when the process dies between two events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from fixtures.fake_scim import DEMO_TOKEN as SCIM_TOKEN, demo_slack
from fixtures.httpfake import FakeServer, Request, Response, route
from scanner.watch import (
    Event, OktaLogSource, ScimActiveSource, Sinks, WatchState, WatchStats, okta_log_event,
    watch_loop,
)

T0 = "2026-11-21T12:00:00.000Z"


def at(minutes: int) -> str:
    t = datetime(2026, 11, 21, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def okta():
    with demo_okta() as server:
        yield server


def user(okta, uid):
    return next(u for u in okta.users if u["id"] == uid)


def source(okta, **kw) -> OktaLogSource:
    return OktaLogSource(okta.url, OKTA_TOKEN, since=T0, **kw)


# --- the fake's System Log ---------------------------------------------------------------------


def test_fake_system_log_pages_filters_and_polls(okta):
    alice = user(okta, "00ualice0000000000a1")
    for i in range(5):
        okta.log_event("user.session.start" if i % 2 else "user.lifecycle.deactivate", alice, at(i))
    h = {"Authorization": f"SSWS {OKTA_TOKEN}"}
    r = requests.get(f"{okta.url}/api/v1/logs", headers=h, timeout=5,
                     params={"since": T0, "limit": 2, "filter": 'eventType eq "user.lifecycle.deactivate"'})
    assert r.status_code == 200 and [e["eventType"] for e in r.json()] == ["user.lifecycle.deactivate"] * 2
    ev = r.json()[0]
    assert set(ev) >= {"uuid", "published", "eventType", "actor", "target", "outcome", "displayMessage"}
    assert ev["target"][0]["type"] == "User" and ev["target"][0]["alternateId"] == "alice@example.com"
    page2 = requests.get(r.links["next"]["url"], headers=h, timeout=5)
    assert [e["published"] for e in page2.json()] == [at(4)]
    # polling: the last page still links to "next", and it is empty until a new event
    page3 = requests.get(page2.links["next"]["url"], headers=h, timeout=5)
    assert page3.json() == [] and "next" in page3.links
    okta.log_event("user.lifecycle.deactivate", alice, at(9))
    page4 = requests.get(page3.links["next"]["url"], headers=h, timeout=5)
    assert [e["published"] for e in page4.json()] == [at(9)]
    bad = requests.get(f"{okta.url}/api/v1/logs", headers=h, params={"filter": "nonsense"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000031"


def test_log_event_transform_skips_what_it_does_not_act_on():
    assert okta_log_event({"uuid": "u1", "eventType": "user.session.start", "target": []}) is None
    assert okta_log_event({"uuid": "u2", "eventType": "user.lifecycle.deactivate", "target": []}) is None
    assert okta_log_event("not an event") is None
    failed = {"uuid": "u3", "eventType": "user.lifecycle.suspend", "outcome": {"result": "FAILURE"},
              "target": [{"type": "User", "alternateId": "x@example.com"}]}
    assert okta_log_event(failed) is None
    ok = {**failed, "outcome": {"result": "SUCCESS"}, "published": at(1)}
    assert okta_log_event(ok) == Event("okta:u3", "okta-log", "x@example.com", "suspended", at(1))


# --- the Okta source -----------------------------------------------------------------------------


def test_okta_source_deactivate_and_suspend_then_nothing_twice(okta, tmp_path):
    alice, erin = user(okta, "00ualice0000000000a1"), user(okta, "00uerin0000000000e05")
    okta.log_event("user.lifecycle.deactivate", alice, at(1))
    okta.log_event("user.session.start", alice, at(2))  # filtered out by the query
    okta.log_event("user.lifecycle.suspend", erin, at(3))
    src, state = source(okta, page_size=1), WatchState()
    events = src.poll(state)
    assert [(e.identity, e.change) for e in events] == [("alice@example.com", "terminated"),
                                                         ("erin@example.com", "suspended")]
    assert state.cursors == {}  # the cursor moves only on commit
    src.commit(state)
    assert src.poll(state) == [] and okta.writes == []
    okta.log_event("user.lifecycle.deactivate", erin, at(4))
    assert [e.change for e in src.poll(state)] == ["terminated"]
    # filter and since went on the first request only; then the opaque cursor
    first = okta.requests[0]
    assert first.arg("since") == T0 and "user.lifecycle.deactivate" in first.arg("filter")
    assert all(r.arg("after") for r in okta.requests[1:])


def test_okta_source_retries_a_429_and_a_503(okta, tmp_path):
    okta.log_event("user.lifecycle.deactivate", user(okta, "00ualice0000000000a1"), at(1))
    okta.fault(r"/api/v1/logs", status=429, times=1, headers={"X-Rate-Limit-Reset": "0"})
    okta.fault(r"/api/v1/logs", status=503, times=1, retry_after=0)
    events = source(okta).poll(WatchState())
    assert [e.identity for e in events] == ["alice@example.com"]


def recorder(fail_on: str | None = None):
    seen: list[str] = []

    def verify(ev: Event) -> dict:
        if ev.id == fail_on:
            raise KeyboardInterrupt  # the process is killed here, mid-batch
        seen.append(ev.id)
        return {"identity": ev.identity, "verdict": "residual"}
    return verify, seen


def test_killed_between_events_neither_reprocesses_nor_skips(okta, tmp_path):
    state_path, out = tmp_path / "watch.json", tmp_path / "out.jsonl"
    alice, bob, erin = (user(okta, u) for u in ("00ualice0000000000a1", "00ubob00000000000b02",
                                                "00uerin0000000000e05"))
    e1 = okta.log_event("user.lifecycle.deactivate", alice, at(1))
    e2 = okta.log_event("user.lifecycle.suspend", bob, at(2))
    okta.log_event("user.lifecycle.deactivate", erin, at(3))
    sinks = Sinks(stdout=False, file=out)

    verify, seen = recorder(fail_on=f"okta:{e2['uuid']}")
    with pytest.raises(KeyboardInterrupt):
        watch_loop([source(okta)], state_path, verify, sinks, once=True)
    assert seen == [f"okta:{e1['uuid']}"]
    saved = json.loads(state_path.read_text())
    assert saved["handled"] == [f"okta:{e1['uuid']}"] and saved["cursors"] == {}

    verify, seen = recorder()  # restarted
    assert watch_loop([source(okta)], state_path, verify, sinks, once=True) == 2
    assert seen == [f"okta:{e2['uuid']}", f"okta:{okta.logs[2]['uuid']}"]
    verify, seen = recorder()
    assert watch_loop([source(okta)], state_path, verify, sinks, once=True) == 0 and seen == []
    okta.log_event("user.lifecycle.deactivate", bob, at(5))
    assert watch_loop([source(okta)], state_path, verify, sinks, once=True) == 1
    ids = [json.loads(line)["event"]["id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 4  # every event exactly once
    assert okta.writes == []


def test_a_source_outage_is_retried_next_poll(okta, tmp_path):
    okta.log_event("user.lifecycle.deactivate", user(okta, "00ualice0000000000a1"), at(1))
    okta.fault(r"/api/v1/logs", status=500)  # longer than the retries
    verify, seen = recorder()
    stats = WatchStats()
    src = source(okta)
    assert watch_loop([src], tmp_path / "w.json", verify, Sinks(stdout=False), once=True, stats=stats) == 0
    assert stats.failed == 1 and seen == []
    okta.clear_faults()
    assert watch_loop([src], tmp_path / "w.json", verify, Sinks(stdout=False), once=True) == 1


# --- SCIM ------------------------------------------------------------------------------------


def test_scim_source_active_flag_and_deletion(tmp_path):
    with demo_slack() as slack:
        src, state = ScimActiveSource("slack", slack.base_url, SCIM_TOKEN), WatchState()
        assert src.poll(state) == []  # the baseline
        assert src.poll(state) == []
        alice = next(u for u in slack.users if u["userName"] == "alice@example.com")
        alice["active"] = False
        first = src.poll(state)
        assert [(e.identity, e.change) for e in first] == [("alice@example.com", "terminated")]
        assert [e.id for e in src.poll(state)] == [e.id for e in first]  # stable until commit
        src.commit(state)
        assert src.poll(state) == []
        slack.users = [u for u in slack.users if u["userName"] != "bob@example.com"]
        gone = src.poll(state)
        assert [(e.identity, e.id.split(":")[3]) for e in gone] == [("bob@example.com", "deleted")]
        src.commit(state)
        alice["active"] = True  # reactivated, then deactivated again: a new event
        src.poll(state)
        src.commit(state)
        alice["active"] = False
        again = src.poll(state)
        assert len(again) == 1 and again[0].id != first[0].id
        assert slack.writes == [] and src.calls == slack.count()


# --- the webhook sink --------------------------------------------------------------------------


class Hook(FakeServer):
    """A webhook receiver: POST /hook is allowed (it is the one write we make) and recorded."""

    allowed_posts = (r"/hook",)

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict] = []

    @route("POST", r"/hook")
    def hook(self, req: Request) -> Response:
        self.received.append(req.json())
        return Response(204)


def test_webhook_sink_retries_and_delivers_once(tmp_path):
    with Hook() as hook:
        hook.fault(r"/hook", status=503, times=1)
        sinks = Sinks(stdout=False, webhook=f"{hook.url}/hook")
        sinks.send({"identity": "alice@example.com", "verdict": "residual"})
        assert hook.received == [{"identity": "alice@example.com", "verdict": "residual"}]
        assert hook.count("/hook") == 2  # one 503, one delivery


def test_webhook_down_keeps_the_event_for_the_next_poll(okta, tmp_path):
    okta.log_event("user.lifecycle.deactivate", user(okta, "00ualice0000000000a1"), at(1))
    with Hook() as hook:
        hook.fault(r"/hook", status=500)
        sinks = Sinks(stdout=False, webhook=f"{hook.url}/hook", file=tmp_path / "o.jsonl")
        verify, seen = recorder()
        stats = WatchStats()
        assert watch_loop([source(okta)], tmp_path / "w.json", verify, sinks, once=True, stats=stats) == 0
        assert stats.failed == 1 and hook.received == [] and not (tmp_path / "o.jsonl").exists()
        hook.clear_faults()
        assert watch_loop([source(okta)], tmp_path / "w.json", verify, sinks, once=True) == 1
        (msg,) = hook.received
        assert msg["identity"] == "alice@example.com" and msg["event"]["change"] == "terminated"
        assert isinstance(msg["time_to_detect_s"], float)
        assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 1
        assert (tmp_path / "o.jsonl").stat().st_mode & 0o077 == 0  # names people: private
        assert (tmp_path / "w.json").stat().st_mode & 0o077 == 0


def test_killed_after_the_verdict_was_written_but_before_it_was_recorded(okta, tmp_path):
    """The one window exactly-once cannot close by ordering: the file sink sees its own
    line and does not write it again; the webhook carries the event id as an
    Idempotency-Key so the receiver can do the same."""
    e1 = okta.log_event("user.lifecycle.deactivate", user(okta, "00ualice0000000000a1"), at(1))
    out = tmp_path / "o.jsonl"

    class DiesAfterSending(Sinks):
        def send(self, message):
            super().send(message)
            raise KeyboardInterrupt

    with Hook() as hook:
        verify, _ = recorder()
        with pytest.raises(KeyboardInterrupt):
            watch_loop([source(okta)], tmp_path / "w.json", verify,
                       DiesAfterSending(stdout=False, file=out, webhook=f"{hook.url}/hook"), once=True)
        assert watch_loop([source(okta)], tmp_path / "w.json", verify,
                          Sinks(stdout=False, file=out, webhook=f"{hook.url}/hook"), once=True) == 1
        assert len(out.read_text().splitlines()) == 1
        keys = [r.headers.get("idempotency-key") for r in hook.requests]
        assert keys == [f"okta:{e1['uuid']}"] * 2  # delivered twice, same key: the receiver dedupes


# --- Okta event hooks ---------------------------------------------------------------------


def test_okta_event_hook_receiver_spools_then_the_loop_handles_once(okta, tmp_path):
    from scanner.watch import OktaEventHookSource

    hook = OktaEventHookSource(tmp_path / "spool.jsonl", secret="hook-secret-not-real")
    url = hook.serve()
    try:
        v = requests.get(url, headers={"X-Okta-Verification-Challenge": "abc123"}, timeout=5)
        assert v.json() == {"verification": "abc123"}
        alice = user(okta, "00ualice0000000000a1")
        ev = okta.log_event("user.lifecycle.deactivate", alice, at(1))  # also in the System Log
        body = {"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
                "source": "https://acme.okta.com/api/v1/eventHooks/who8vt36qfNpCGz9H1e6",
                "eventId": "b5a188b9-5ece-4636-b041-482ffda96311", "eventTime": at(1),
                "contentType": "application/json", "data": {"events": [ev]}}
        assert requests.post(url, json=body, timeout=5).status_code == 401
        assert requests.post(url, json=body, timeout=5,
                             headers={"Authorization": "wrong"}).status_code == 401
        assert requests.post(url, data=b"{}", timeout=5,
                             headers={"Authorization": "hook-secret-not-real"}).status_code == 400
        for _ in range(2):  # Okta retries a delivery it did not see acknowledged
            r = requests.post(url, json=body, timeout=5, headers={"Authorization": "hook-secret-not-real"})
            assert r.status_code == 200
    finally:
        hook.stop()
    verify, seen = recorder()
    n = watch_loop([hook, source(okta)], tmp_path / "w.json", verify, Sinks(stdout=False), once=True)
    assert n == 1 and seen == [f"okta:{ev['uuid']}"]  # pushed twice, and in the log: once
    assert watch_loop([hook, source(okta)], tmp_path / "w.json", verify, Sinks(stdout=False), once=True) == 0

"""`residual watch` end to end through the real CLI: the Okta System Log and a SCIM app's
``active`` flag as event feeds, the real targeted verify (Okta and SCIM collectors against
the demo fakes), verdicts to a JSON-lines file and a webhook, ``--once`` run repeatedly
while events are appended: every event handled exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from fixtures.fake_scim import DEMO_TOKEN as SCIM_TOKEN, demo_slack
from tests.conftest import run_cli, write_config
from tests.test_watch_sources import Hook

# HR has not caught up: everyone is still active in the roster file
ROSTER = ["alice@example.com,Alice Archer,alice@example.com,human,active,,,",
          "bob@example.com,Bob Baker,bob@example.com,human,active,,,",
          "erin@example.com,Erin Evans,erin@example.com,human,active,,,"]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def estate(tmp_path):
    with demo_okta() as okta, demo_slack() as slack, Hook() as hook:
        okta.users[0]["status"] = "ACTIVE"
        cfg = write_config(tmp_path, {"collectors": {
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}],
            "scim": [{"name": "slack", "url": slack.base_url, "token": "${SCIM_TOKEN}"}]}}, ROSTER)
        env = {"OKTA_TOKEN": OKTA_TOKEN, "SCIM_TOKEN": SCIM_TOKEN}
        yield {"okta": okta, "slack": slack, "hook": hook, "cfg": cfg, "env": env, "tmp": tmp_path}


def watch(e, *extra):
    return run_cli("watch", "-c", str(e["cfg"]), "--once", "--okta-url", e["okta"].url,
                   "--okta-since", "2026-11-21T00:00:00Z", "--jsonl", str(e["tmp"] / "v.jsonl"),
                   "--webhook", f"{e['hook'].url}/hook", *extra, env=e["env"])


def lines(e):
    p = e["tmp"] / "v.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_okta_deactivation_to_residual_verdict_exactly_once(estate):
    e = estate
    okta = e["okta"]
    first = watch(e)
    assert first.returncode == 0 and "handled 0 event(s)" in first.stderr, first.stderr[-2000:]

    alice = next(u for u in okta.users if u["id"] == "00ualice0000000000a1")
    alice["status"] = "DEPROVISIONED"  # an admin deactivates her in Okta...
    okta.log_event("user.lifecycle.deactivate", alice, now())
    r = watch(e)
    assert r.returncode == 0 and "handled 1 event(s)" in r.stderr, r.stderr[-2000:]
    (msg,) = lines(e)
    assert msg["identity"] == "alice@example.com" and msg["event"]["change"] == "terminated"
    # ...but Slack (SCIM) still has her active, and her Okta app assignments remain
    assert msg["verdict"] == "residual" and msg["layers"]["saas"] == "residual"
    rules = {x["rule"] for x in msg["residue"]}
    assert {"account.active_after_termination", "okta.app_assignment_of_leaver"} <= rules
    assert isinstance(msg["time_to_detect_s"], float) and msg["time_to_verdict_s"] >= 0
    assert e["hook"].received == [msg]

    again = watch(e)
    assert "handled 0 event(s)" in again.stderr and len(lines(e)) == 1  # never twice

    erin = next(u for u in okta.users if u["id"] == "00uerin0000000000e05")
    okta.log_event("user.lifecycle.suspend", erin, now())
    bob = next(u for u in okta.users if u["id"] == "00ubob00000000000b02")
    bob["status"] = "DEPROVISIONED"
    okta.log_event("user.lifecycle.deactivate", bob, now())
    r = watch(e)
    assert "handled 2 event(s)" in r.stderr, r.stderr[-2000:]
    got = [(m["identity"], m["event"]["change"], m["verdict"]) for m in lines(e)]
    assert got[1:] == [("erin@example.com", "suspended", "residual"),
                       ("bob@example.com", "terminated", "residual")]
    assert len({m["event"]["id"] for m in lines(e)}) == 3
    assert okta.writes == [] and e["slack"].writes == []
    # the verdicts are in the inventory: the stored verdict of the last targeted verify
    stored = run_cli("verify", "-c", str(e["cfg"]), "bob@example.com", "--scan", "latest",
                     "--format", "json", env=e["env"])
    assert stored.returncode == 1 and json.loads(stored.stdout)["bob@example.com"]["verdict"] == "residual"


def test_scim_active_flag_feed(estate):
    e = estate
    args = ("--scim-url", e["slack"].base_url, "--scim-name", "slack", "--roster-file",
            str(e["tmp"] / "roster.csv"))
    base = run_cli("watch", "-c", str(e["cfg"]), "--once", *args, "--jsonl", str(e["tmp"] / "v.jsonl"),
                   env=e["env"])
    assert "handled 0 event(s)" in base.stderr, base.stderr[-2000:]
    erin = next(u for u in e["slack"].users if u["userName"] == "erin@example.com")
    erin["active"] = False
    erin["meta"]["lastModified"] = now().replace(".000Z", "Z")  # as a server records the change
    r = run_cli("watch", "-c", str(e["cfg"]), "--once", *args, "--jsonl", str(e["tmp"] / "v.jsonl"),
                env=e["env"])
    assert r.returncode == 0 and "handled 1 event(s)" in r.stderr, r.stderr[-2000:]
    (msg,) = lines(e)
    # the app itself deprovisioned her; Okta still has her SUSPENDED and assigned to Slack
    assert msg["identity"] == "erin@example.com" and msg["verdict"] == "residual"
    assert msg["layers"]["saas"] == "clean" and msg["layers"]["directory"] == "residual"
    assert msg["event"]["at"] == erin["meta"]["lastModified"] and isinstance(msg["time_to_detect_s"], float)


def test_usage_errors(tmp_path):
    cfg = write_config(tmp_path, {})
    r = run_cli("watch", "-c", str(cfg), "--once")
    assert r.returncode == 2 and "nothing to watch" in r.stderr
    r = run_cli("watch", "-c", str(cfg), "--once", "--okta-url", "http://127.0.0.1:9",
                env={"OKTA_TOKEN": ""})
    assert r.returncode == 2 and "--okta-token" in r.stderr
    r = run_cli("watch", "-c", str(cfg), "--once", "--okta-hook", "127.0.0.1:8443",
                env={"OKTA_HOOK_SECRET": ""})
    assert r.returncode == 2 and "--okta-hook-secret" in r.stderr


def test_ctrl_c_ends_watch_with_130(tmp_path):
    """Ctrl-C is "interrupted" (130), not "every event handled" (0): a supervisor must
    not read a stopped watcher as a clean one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = write_config(tmp_path, {}, ROSTER)
    state = tmp_path / "w.json"
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", "watch", "-c", str(cfg),
                          "--interval", "300", "--state", str(state)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline:  # the first poll is done
        time.sleep(0.2)
    assert state.exists(), p.stderr.read() if p.poll() is not None else "no state yet"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err

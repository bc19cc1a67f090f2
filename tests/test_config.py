"""Config: every mistake is one line naming the file and the key, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.config import load_config
from scanner.core.errors import ConfigError
from scanner.core.secrets import default_key_path
from tests.conftest import run_cli


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "residual.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, key", [
    ("bogus: 1\n", "bogus"),
    ("policy: {unused_after_days: soon}\n", "policy.unused_after_days"),
    ("policy: {fail_on: severe}\n", "policy.fail_on"),
    ("policy: {nope: 1}\n", "policy.nope"),
    ("roster: [{ldap: x}]\n", "roster[0].ldap"),
    ("roster: [{csv: {path: 3}}]\n", "roster[0].csv.path"),
    ("collectors: {nosuch: []}\n", "collectors.nosuch"),
    ("collectors: 5\n", "collectors"),
    ("inventory: [1]\n", "inventory"),
    ("policy: {agent_name_pattern: '(agent'}\n", "policy.agent_name_pattern"),
    ("collectors: {vault: [{url: x, auth_method: ldap}]}\n", "collectors.vault[0].auth_method"),
    ("collectors: {openai: [{name: x}]}\n", "collectors.openai[0].admin_key"),
])
def test_errors_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    msg = str(exc.value)
    assert "\n" not in msg
    assert f": {key}" in msg and str(tmp_path) in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_config(write(tmp_path, "policy:\n  - [unclosed\n"))


def test_env_expansion_and_missing_env_never_leaks(tmp_path, monkeypatch):
    monkeypatch.setenv("RES_TEST_INV", "inv.duckdb")
    cfg = load_config(write(tmp_path, "inventory: ${RES_TEST_INV}\n"))
    assert cfg.inventory == tmp_path / "inv.duckdb"
    monkeypatch.delenv("RES_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match=r"inventory: environment variable RES_TEST_UNSET is not set"):
        load_config(write(tmp_path, "inventory: ${RES_TEST_UNSET}\n"))


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "{}\n"))
    assert cfg.policy.unused_after_days == 45 and cfg.policy.rotate_after_days == 90
    assert cfg.policy.fail_on == "high"
    assert cfg.inventory == tmp_path / "residual.duckdb"
    assert cfg.fingerprint_key == default_key_path() and tmp_path not in cfg.fingerprint_key.parents


def test_digest_redacts_secrets(tmp_path):
    a = load_config(write(tmp_path, "inventory: a.duckdb\n"))
    assert len(a.digest()) == 64
    from scanner.core.options import redact
    assert redact({"token": "ghp_abc", "url": "x", "nested": [{"password": "p"}]}) == \
        {"token": "***", "url": "x", "nested": [{"password": "***"}]}


def test_cli_bad_config_exit_2_one_line_nothing_written(tmp_path):
    cfg = write(tmp_path, f"inventory: {tmp_path}/inv.duckdb\npolicy: {{fail_on: 7}}\n")
    r = run_cli("scan", "-c", str(cfg))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "policy.fail_on" in r.stderr
    assert not (tmp_path / "inv.duckdb").exists()


def test_cli_missing_config_exit_2(tmp_path):
    r = run_cli("scan", "-c", str(tmp_path / "none.yaml"))
    assert r.returncode == 2 and "config file not found" in r.stderr


def test_log_redaction_covers_tracebacks(tmp_path, monkeypatch):
    import io
    import logging

    from scanner.cli.common import setup_logging
    monkeypatch.setenv("RES_FAKE_TOKEN", "glpat-FAKEfakeFAKE0000tok")
    cfg = load_config(write(tmp_path, "collectors: {gitlab: [{url: 'http://127.0.0.1:9', token: '${RES_FAKE_TOKEN}'}]}\n"))
    setup_logging(0, False, cfg)
    buf = io.StringIO()
    logging.getLogger().handlers[0].stream = buf
    try:
        raise RuntimeError("GET http://x/?private_token=glpat-FAKEfakeFAKE0000tok failed")
    except RuntimeError:
        logging.getLogger("residual.test").exception("call failed with glpat-FAKEfakeFAKE0000tok")
    out = buf.getvalue()
    logging.getLogger().handlers[:] = []  # leave the root logger as pytest had it
    logging.getLogger().setLevel(logging.WARNING)
    assert "glpat-FAKEfakeFAKE0000tok" not in out
    assert out.count("***") >= 2 and "RuntimeError" in out


def test_network_settings_are_validated(tmp_path):
    cfg = load_config(write(tmp_path, "network: {timeout_s: 2.5, max_retries: 1}\n"))
    assert cfg.network == {"timeout_s": 2.5, "max_retries": 1, "max_pages": 10_000,
                           "max_wait_s": 3600.0}
    with pytest.raises(ConfigError, match=r": network.max_wait_s: expected a positive number"):
        load_config(write(tmp_path, "network: {max_wait_s: -1}\n"))
    with pytest.raises(ConfigError, match=r": network.max_retries: expected an integer"):
        load_config(write(tmp_path, "network: {max_retries: many}\n"))
    with pytest.raises(ConfigError, match=r": network.timeout_s: expected a positive number"):
        load_config(write(tmp_path, "network: {timeout_s: 0}\n"))
    with pytest.raises(ConfigError, match=r": network.retries: unknown key"):
        load_config(write(tmp_path, "network: {retries: 1}\n"))


@pytest.mark.parametrize("retries, expected", [(None, 5), (0, 1)])
def test_network_max_retries_reaches_the_collectors(tmp_path, retries, expected):
    """A persistent 503: the default policy asks 1 + 4 times, `max_retries: 0` once, and
    the verdict is incomplete (exit 3) either way, never clean."""
    from fixtures.fake_scim import start_demo
    server = start_demo()
    try:
        server.fault(r"/Users$", status=503)
        body = {"collectors": {"scim": [{"name": "slack", "url": server.url, "token": server.token}]}}
        if retries is not None:
            body["network"] = {"max_retries": retries}
        from tests.conftest import write_config
        cfg = write_config(tmp_path, body, ["carol@example.com,Carol,carol@example.com,human,terminated,2026-10-15,,"])
        r = run_cli("verify", "-c", str(cfg), "carol@example.com", "-q")
        assert r.returncode == 3, r.stderr
        assert sum(1 for q in server.requests if q.path.endswith("/Users")) == expected
    finally:
        server.stop()

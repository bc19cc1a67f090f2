"""Attack surface: secrets at rest and the fingerprint key (issue 15), through the CLI.

- a parse error names the error's class, line and column, never the file's text (a
  Terraform parser quotes the token it choked on: here, a password);
- a URL keeps scheme, host, port and path: a webhook's basic-auth password, its query
  token and a Slack-style secret path segment, and a token in a `repos:` URL's query,
  are stored nowhere (inventory, ETag cache, BloodHound and Parquet exports, plans);
- compressed outputs are decoded before the search (Parquet through DuckDB, zlib/gzip);
- `keep_clones: false` leaves no clone (no history at rest);
- a fingerprint key that others can read, or that another user owns, is refused;
- ${ENV} expands only in secret and path options.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import zlib
from pathlib import Path

import duckdb
import pytest

from fixtures import fake_github
from tests.conftest import run_cli, write_config
from tests.test_secrets_never_persisted import ROSTER, hits_in, inventory_values

PARSE_SECRET = "residualFAKEbareTOKEN7Yz3Qw"
HOOK_PASSWORD = "residualFAKEhookPASSWORD4Kd"
HOOK_QUERY = "residualFAKEhookQUERY8Lm2"
HOOK_PATH = "residualFAKEslackPATHsecret5Tq9Wz"
REPO_QUERY = "residualFAKErepoQUERYtoken3Vb"
SECRETS = {"parse": PARSE_SECRET, "hook password": HOOK_PASSWORD, "hook query": HOOK_QUERY,
           "hook path": HOOK_PATH, "repo query": REPO_QUERY}


def decoded(p: Path) -> bytes:
    """A file's bytes, and what a compressed or columnar one decodes to."""
    data = p.read_bytes()
    out = [data]
    if data[:4] == b"PAR1":
        con = duckdb.connect()
        out += [repr(r).encode() for r in con.execute(
            f"SELECT * FROM read_parquet('{p}')").fetchall()]
        con.close()
    for decode in (gzip.decompress, zlib.decompress):
        try:
            out.append(decode(data))
        except Exception:  # noqa: BLE001 - not that compression
            pass
    return b"\n".join(out)


def git(cwd: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_parse_errors_urls_and_exports_hold_no_secret(tmp_path):
    infra = tmp_path / "infra"
    infra.mkdir()
    (infra / "broken.tf").write_text(
        'resource "aws_iam_user" "u" {\n  name = "${var.db ' + PARSE_SECRET + '}"\n}\n')
    gh = fake_github.demo_org()
    gh.org_hooks.append({"type": "Organization", "id": 991, "name": "web", "active": True,
                         "events": ["push"], "updated_at": "2026-01-01T00:00:00Z",
                         "config": {"url": f"https://ops:{HOOK_PASSWORD}@hooks.example.com/in"
                                           f"?token={HOOK_QUERY}#frag", "content_type": "json"}})
    gh.org_hooks.append({"type": "Organization", "id": 992, "name": "web", "active": True,
                         "events": ["push"], "updated_at": "2026-01-01T00:00:00Z",
                         "config": {"url": f"https://hooks.slack.com/services/T0AAAA/B0BBBB/{HOOK_PATH}"}})
    with gh:
        cfg = write_config(tmp_path, {"collectors": {
            "github": [{"org": "acme", "token": fake_github.DEMO_TOKEN, "base_url": gh.url}],
            "iac": [{"path": str(infra)}, {"repos": [f"file://{tmp_path}/nowhere.git?token={REPO_QUERY}"]}]}},
            ROSTER)
        inputs = {p for p in tmp_path.rglob("*") if p.is_file()}
        scan = run_cli("scan", "-c", str(cfg), "-vv")
    assert scan.returncode in (1, 3), scan.stderr[-2000:]
    outputs = [scan.stdout, scan.stderr]
    for fmt in ("json", "md", "bloodhound", "csv"):
        r = run_cli("report", "-c", str(cfg), "--format", fmt, "-o", str(tmp_path / "out" / f"r.{fmt}"))
        outputs.append(r.stdout + r.stderr)
    r = run_cli("export", "-c", str(cfg), "--format", "parquet", "-o", str(tmp_path / "pq"))
    assert r.returncode == 0, r.stderr
    for fmt in ("sh", "json"):
        r = run_cli("plan", "-c", str(cfg), "alice@example.com", "--format", fmt)
        outputs.append(r.stdout + r.stderr)

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in inputs]
    assert any(p.suffix == ".parquet" for p in written)
    leaks = {str(p.relative_to(tmp_path)): h for p in written if (h := hits_in(decoded(p), SECRETS))}
    leaks["inventory values"] = hits_in(inventory_values(tmp_path / "residual.duckdb"), SECRETS)
    leaks["terminal"] = hits_in("\n".join(outputs).encode(), SECRETS)
    assert {k: v for k, v in leaks.items() if v} == {}

    # what was stored instead: the error's class and place, the URLs' safe parts
    con = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
    cov = con.execute("SELECT target, status, attributes FROM coverage WHERE collector = 'iac'").fetchall()
    hooks = [n for (n,) in con.execute("SELECT name FROM resources WHERE kind = 'webhook'").fetchall()]
    con.close()
    tree = json.loads(next(a for t, _s, a in cov if t == str(infra)))
    assert tree["parse_error_files"] == [{"path": "broken.tf",
                                          "reason": "terraform: UnexpectedToken at line 2, column 20"}]
    assert f"file://{tmp_path}/nowhere.git" in {t for t, _s, _a in cov}  # the query dropped
    assert {"https://hooks.example.com/in", "https://hooks.slack.com/services/T0AAAA/B0BBBB/***"} <= set(hooks)


def test_keep_clones_false_leaves_no_history_at_rest(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "a.env").write_text("API_TOKEN=residualFAKEcloneTOKEN6Hn1\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    bare = tmp_path / "r.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    for keep, left in ((True, 1), (False, 0)):
        cfg = write_config(tmp_path, {"cache_dir": str(tmp_path / f"cache-{keep}"), "collectors": {
            "iac": [{"repos": [f"file://{bare}"], "history": True, "keep_clones": keep}]}})
        res = run_cli("scan", "-c", str(cfg))
        assert res.returncode in (0, 1), res.stderr
        clones = tmp_path / f"cache-{keep}" / "iac-repos"
        assert len(list(clones.iterdir()) if clones.exists() else []) == left
        con = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
        n = con.execute("SELECT count(*) FROM exposures WHERE location LIKE '%a.env'").fetchone()[0]
        con.close()
        assert n >= 1  # scanned either way


def test_fingerprint_key_readable_by_others_is_refused(tmp_path):
    key = tmp_path / "planted.key"
    key.write_text("00" * 32 + "\n")  # a key an attacker knows
    os.chmod(key, 0o644)
    cfg = write_config(tmp_path, {"fingerprint_key": str(key)}, ROSTER)
    r = run_cli("scan", "-c", str(cfg))
    assert r.returncode == 2 and "fingerprint key" in r.stderr and "group or others" in r.stderr
    assert not (tmp_path / "residual.duckdb").exists()  # refused before anything was written
    os.chmod(key, 0o600)
    if os.geteuid() == 0:  # root can plant a key owned by someone else
        os.chown(key, 12345, 12345)
        r = run_cli("scan", "-c", str(cfg))
        assert r.returncode == 2 and "owned by another user" in r.stderr
        os.chown(key, 0, 0)
    assert run_cli("scan", "-c", str(cfg)).returncode in (0, 1, 3)


def test_default_key_is_outside_the_inventory_folder(tmp_path):
    xdg = tmp_path / "xdg"
    cfg = write_config(tmp_path, {}, ROSTER)
    assert run_cli("scan", "-c", str(cfg), env={"XDG_CONFIG_HOME": str(xdg)}).returncode in (0, 1, 3)
    key = xdg / "residual" / "fingerprint.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert not list(tmp_path.glob("*.key"))


@pytest.mark.parametrize("where, value", [
    ({"collectors": {"scim": [{"name": "${LEAK_ME}", "url": "https://scim.invalid", "token": "t"}]}}, "name"),
    ({"collectors": {"iac": [{"path": "infra", "include": ["${LEAK_ME}"]}]}}, "include"),
])
def test_env_expands_only_in_secret_and_path_options(tmp_path, where, value):
    cfg = write_config(tmp_path, where)
    r = run_cli("scan", "-c", str(cfg), env={"LEAK_ME": "residualFAKEenvLEAK"})
    assert r.returncode == 2 and value in r.stderr and "expands only in" in r.stderr
    assert "residualFAKEenvLEAK" not in r.stderr

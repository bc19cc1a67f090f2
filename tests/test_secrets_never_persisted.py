"""Raw secrets and config tokens never leave the process that read them.

Known fake secrets are planted in every input type residual reads (a Terraform file, a
tfstate, a .env, a file deleted in git history, Kubernetes Secret data (base64) and a
ConfigMap, a GitLab CI variable, an API payload field), the config's tokens are fake
tokens of our own (given through ${ENV} expansion); then the real CLI scans with debug
logging, renders every report format, and every file written (the inventory as bytes
and every value of every table, its WAL, the reports, the logs, the caches) is searched
for each raw value, its base64 forms and its middle: zero hits. Also: a failing-auth run
prints its error without the token, and reports and inventories are created 0600. watch's
sinks (its JSON-lines file and the webhook's bodies) are searched the same way.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import duckdb
import pytest

from fixtures import fake_github, fake_gitlab, fake_kubernetes, fake_okta, fake_scim
from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]

# -- what is planted (obviously fake; each unique so a hit names its input type) --------------
PLANTED = {
    "tf": "residualFAKEsecretTFpasswordQx7Zr2Kp9w",
    "tf_aws": "residualFAKEawsSECRETkey0NOTreal0000aaaa",  # 40 chars, an AWS secret key's shape
    "tfstate": "residualFAKEsecretTFSTATEdbPassQ8w3Lk",
    "env": "residualFAKEsecretDOTENVtokenZ4k9pVb2",
    "history": "residualFAKEsecretHISTORYdeletedR7t5Mm",
    "k8s_secret": "residualFAKEsecretK8SdataJf2Lq8Rt6Y",
    "k8s_configmap": "residualFAKEsecretCONFIGMAPpw5HnX3c",
    "gitlab_var": "glpat-residualFAKEciVar3Mx",  # a GitLab token's shape: variables are
    # fingerprinted whole and reported when they hold a known credential format
    "scim_payload": "residualFAKEsecretSCIMpayload6Tb1Nz",
    "okta_payload": "residualFAKEsecretOKTApayload2Gv7Kc",
}
TOKENS = {  # the config's tokens (and one in a repository URL)
    "GITHUB_TOKEN": "residualFAKEtokenGITHUBconfig7Hq2Xv",
    "GITLAB_TOKEN": "residualFAKEtokenGITLABconfig4Jm9Pw",
    "OKTA_TOKEN": "residualFAKEtokenOKTAconfig8Rn3Cz",
    "SCIM_TOKEN": "residualFAKEtokenSCIMconfig5Wy6Bd",
}
KUBE_TOKEN = "residualFAKEtokenKUBECONFIG1Lp4Ts"
REPO_URL_TOKEN = "residualFAKEtokenREPOurl9Qs2Fh"


def forms(value: str) -> list[bytes]:
    """The raw value, its base64 forms (standard and url-safe, at each of the three
    alignments it can take inside a longer base64 text), and its middle (so that a
    truncated copy is caught too; the middle is never part of a hint)."""
    raw = value.encode()
    out = {raw, raw[len(raw) // 2 - 6: len(raw) // 2 + 6]}
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:]
        core = enc[: len(enc) - 4]  # the padded tail depends on what follows
        out |= {core, core.replace(b"+", b"-").replace(b"/", b"_")}
    return sorted(out)


def hits_in(data: bytes, values: dict[str, str]) -> list[str]:
    return [name for name, v in values.items() for f in forms(v) if f in data]


def git(cwd: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def plant_iac(root: Path) -> Path:
    infra = root / "infra"
    infra.mkdir()
    git(infra, "init", "-q", "-b", "main")
    (infra / "secrets.env").write_text(f"DEPLOY_TOKEN={PLANTED['history']}\n")
    git(infra, "add", "-A")
    git(infra, "commit", "-q", "-m", "oops")
    (infra / "secrets.env").unlink()  # deleted: only history has it
    (infra / "main.tf").write_text(
        'resource "aws_db_instance" "db" {\n'
        f'  password = "{PLANTED["tf"]}"\n}}\n\n'
        'provider "aws" {\n  access_key = "AKIAFAKEPLANTED00001"\n'
        f'  secret_key = "{PLANTED["tf_aws"]}"\n}}\n')
    (infra / "terraform.tfstate").write_text(
        '{"version": 4, "resources": [{"type": "aws_db_instance", "name": "db", "instances": '
        f'[{{"attributes": {{"password": "{PLANTED["tfstate"]}", "username": "admin"}}}}]}}]}}\n')
    (infra / ".env").write_text(f"API_TOKEN={PLANTED['env']}\nDB_PASSWORD={PLANTED['env']}\n")
    git(infra, "add", "-A")
    git(infra, "commit", "-q", "-m", "infra")
    return infra


@pytest.fixture
def estate(tmp_path):
    """The fakes with planted secrets, started; the config naming them all."""
    gh = fake_github.demo_org()
    gh.tokens[TOKENS["GITHUB_TOKEN"]] = "user"
    data = fake_gitlab.demo_instance()
    data.tokens[TOKENS["GITLAB_TOKEN"]] = data.tokens[fake_gitlab.ADMIN_TOKEN]
    gl = fake_gitlab.FakeGitLab(data)
    website = next(p for p in data.projects if p["path"] == "website") if hasattr(data, "projects") else None
    if website is None:
        pytest.fail("the GitLab fake has no 'website' project to plant a CI variable in")
    data.add_variable(website, "DEPLOY_PASSWORD", PLANTED["gitlab_var"])
    k8s = fake_kubernetes.demo_cluster(server=fake_kubernetes.FakeKubernetes(token=KUBE_TOKEN))
    k8s.secret("payments", "db-creds", {"password": PLANTED["k8s_secret"]})
    k8s.config_map("payments", "app-config", {"DB_PASSWORD": PLANTED["k8s_configmap"]})
    okta = fake_okta.demo_okta(fake_okta.FakeOkta(token=TOKENS["OKTA_TOKEN"]))
    okta.users[0]["profile"]["secondEmail"] = PLANTED["okta_payload"]  # an odd field, a secret in it
    scim = fake_scim.demo_slack(fake_scim.FakeScim(token=TOKENS["SCIM_TOKEN"]))
    scim.users[0]["password"] = PLANTED["scim_payload"]  # a server that should never send it
    servers = [s.start() for s in (gh, gl, k8s, okta, scim)]
    kubeconfig = fake_kubernetes.write_kubeconfig(tmp_path / "kubeconfig", k8s, context="prod")
    infra = plant_iac(tmp_path)
    body = {"collectors": {
        "github": [{"org": "acme", "token": "${GITHUB_TOKEN}", "base_url": gh.url}],
        "gitlab": [{"url": gl.url, "token": "${GITLAB_TOKEN}"}],
        "kubernetes": [{"kubeconfig": str(kubeconfig), "context": "prod"}],
        "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}],
        "scim": [{"name": "slack", "url": scim.url, "token": "${SCIM_TOKEN}"}],
        "iac": [{"path": str(infra), "history": True}],
    }}
    cfg = write_config(tmp_path, body, ROSTER)
    inputs = {p for p in tmp_path.rglob("*") if p.is_file()}
    yield tmp_path, cfg, inputs, servers
    for s in servers:
        s.stop()


def written_files(root: Path, inputs: set[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p not in inputs]


def inventory_values(path: Path) -> bytes:
    """Every value of every table, as text: what a SELECT gives anyone holding the file."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        chunks = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                chunks.append(repr(row))
        return "\n".join(chunks).encode()
    finally:
        con.close()


def test_no_raw_secret_or_token_in_anything_written(estate):
    tmp, cfg, inputs, servers = estate
    env = {**TOKENS, "XDG_CONFIG_HOME": str(tmp / "xdg")}  # the key: searched and checked too
    scan = run_cli("scan", "-c", str(cfg), "-vv", env=env)
    assert scan.returncode in (1, 3), scan.stderr[-2000:]
    (tmp / "scan.stdout.log").write_text(scan.stdout)
    (tmp / "scan.stderr.log").write_text(scan.stderr)
    assert "DEBUG" in scan.stderr  # debug logging was on
    for fmt in ("json", "html", "sarif", "csv", "md", "ocsf", "bloodhound"):
        r = run_cli("report", "-c", str(cfg), "--format", fmt, "-o", str(tmp / "out" / f"report.{fmt}"),
                    env=env)
        assert r.returncode == 0, (fmt, r.stderr)
        (tmp / "out" / f"report.{fmt}.log").write_text(r.stdout + r.stderr)
    watched = _watch_sinks(tmp, cfg, env)  # watch's JSON lines and webhook bodies: searched below
    assert watched[0]["findings"] > 0 and watched[0]["residue"]  # the sinks carried bob's residue
    for s in servers:
        assert s.writes == []

    files = written_files(tmp, inputs)
    names = {p.name for p in files}
    assert {"residual.duckdb", "fingerprint.key", "report.json", "report.bloodhound"} <= names
    assert not (tmp / "residual.duckdb.key").exists()  # not beside the inventory
    assert any("residual.duckdb.cache" in str(p) for p in files)  # the caches were written too
    scanner_files = [p for p in files if not p.name.endswith(".log")]  # logs: this test's own
    assert {str(p.relative_to(tmp)): oct(_mode(p)) for p in scanner_files if _mode(p) != 0o600} == {}
    secrets = {**PLANTED, **TOKENS, "kubeconfig": KUBE_TOKEN}
    leaks = {str(p.relative_to(tmp)): h for p in files if (h := hits_in(p.read_bytes(), secrets))}
    leaks["inventory values"] = hits_in(inventory_values(tmp / "residual.duckdb"), secrets)
    assert {k: v for k, v in leaks.items() if v} == {}

    # the planted secrets were read, found and fingerprinted: the test searched for something
    import json
    report = json.loads((tmp / "out" / "report.json").read_text())
    con = duckdb.connect(str(tmp / "residual.duckdb"), read_only=True)
    exposures = con.execute("SELECT location, hint FROM exposures").fetchall()
    con.close()
    where = " ".join(loc for loc, _ in exposures)
    for place in ("main.tf", "terraform.tfstate", ".env", "secrets.env", "db-creds", "app-config",
                  "DEPLOY_PASSWORD"):
        assert place in where, (place, where[:2000])
    assert all(c["status"] in ("ok", "skipped", "partial") for c in report["coverage"]), report["coverage"]


def _watch_sinks(tmp: Path, cfg: Path, env: dict[str, str]) -> list[dict]:
    """bob leaves: ``watch --once`` verifies him and writes the verdict, with his residue,
    to a JSON-lines file and POSTs it to a webhook on loopback (its bodies kept in a file
    of this test's own, so the search sees them)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        base = run_cli("watch", "-c", str(cfg), "--once", env=env)
        assert base.returncode == 0, base.stderr[-2000:]
        roster = tmp / "roster.csv"
        roster.write_text("".join(
            line.replace(",human,active,,,", ",human,terminated,2026-11-20,,") if line.startswith("bob@") else line
            for line in roster.read_text().splitlines(keepends=True)))
        out = tmp / "out" / "verdicts.jsonl"
        run = run_cli("watch", "-c", str(cfg), "--once", "--jsonl", str(out),
                      "--webhook", f"http://127.0.0.1:{hook.server_port}/hook", env=env)
        assert run.returncode == 0, run.stderr[-2000:]
    finally:
        hook.shutdown()
    (tmp / "webhook-bodies.log").write_bytes(b"\n".join(bodies))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["identity"] for m in lines] == ["bob@example.com"] and len(bodies) == len(lines)
    return lines


def test_failing_auth_errors_name_no_token(tmp_path):
    """Every source refuses its (wrong) token, and a repository URL carries a token: the
    errors printed, logged and stored say what failed and never show the token."""
    gh, okta, scim = fake_github.start_demo(), fake_okta.start_demo(), fake_scim.start_demo()
    gl = fake_gitlab.start_demo()
    empty = tmp_path / "empty"
    empty.mkdir()
    try:
        body = {"collectors": {
            "github": [{"org": "acme", "token": "${GITHUB_TOKEN}", "base_url": gh.url}],
            "gitlab": [{"url": gl.url, "token": "${GITLAB_TOKEN}"}],
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}],
            "scim": [{"name": "slack", "url": scim.url, "token": "${SCIM_TOKEN}"}],
            "iac": [{"path": str(empty), "repos": [
                f"http://oauth2:{REPO_URL_TOKEN}@127.0.0.1:9/acme/infra.git"]}],
        }}
        cfg = write_config(tmp_path, body, ROSTER)
        inputs = {p for p in tmp_path.rglob("*") if p.is_file()}
        r = run_cli("scan", "-c", str(cfg), "-vv", env=TOKENS)
        assert r.returncode == 3, r.stdout + r.stderr
        rep = run_cli("report", "-c", str(cfg), "--format", "json", env=TOKENS)
        import json
        errors: dict[str, str] = {}
        for c in json.loads(rep.stdout)["coverage"]:
            if c["status"] == "failed":
                name = c["collector"].split(":")[0]
                errors[name] = f"{errors.get(name, '')} {c['error']}"
        assert {"github", "gitlab", "okta", "scim", "iac"} <= set(errors), errors
        assert all("401" in errors[n] for n in ("github", "gitlab", "okta", "scim")), errors
        text = (r.stdout + r.stderr + rep.stdout + rep.stderr).encode()
        text += b"".join(p.read_bytes() for p in written_files(tmp_path, inputs))
        text += inventory_values(tmp_path / "residual.duckdb")
        assert hits_in(text, {**TOKENS, "repo url": REPO_URL_TOKEN}) == []
    finally:
        for s in (gh, gl, okta, scim):
            s.stop()


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_inventory_key_and_reports_are_created_0600(tmp_path):
    cfg = write_config(tmp_path, {}, ROSTER)
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert run_cli("scan", "-c", str(cfg), "-q", env=xdg).returncode in (0, 1, 3)
    out = tmp_path / "reports" / "r.html"
    old = tmp_path / "old.json"
    old.write_text("{}")
    os.chmod(old, 0o644)  # a report written over an existing, world-readable file
    for path, fmt in ((out, "html"), (old, "json")):
        r = run_cli("report", "-c", str(cfg), "--format", fmt, "-o", str(path))
        assert r.returncode == 0, r.stderr
    created = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("residual.yaml", "roster.csv")]
    assert {p.name for p in created} >= {"residual.duckdb", "fingerprint.key", "r.html", "old.json"}
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in created if _mode(p) != 0o600} == {}


def test_demo_output_is_private_and_free_of_its_secrets(tmp_path):
    """`residual demo`: its reports and inventory are 0600 and hold none of the demo's
    planted secrets (the IaC tree it copies in and its config are inputs, not checked)."""
    out = tmp_path / "demo"
    r = run_cli("demo", "--out", str(out), "-q")
    assert r.returncode in (0, 1, 3), r.stderr[-2000:]
    written = [p for p in out.rglob("*") if p.is_file() and p.name.startswith(("report.", "residual.duckdb"))]
    assert {"report.json", "report.html", "residual.duckdb"} <= {p.name for p in written}
    assert {p.name: oct(_mode(p)) for p in written if _mode(p) != 0o600} == {}
    demo_secrets = {
        "iac secret key": "demoFAKEsecretKEYnotREAL0000000000000000",
        "k8s aws secret": fake_kubernetes.DEMO_SECRET_ACCESS_KEY,
        "gitlab db password": fake_gitlab.FAKE_DB_PASSWORD,
        "gitlab glpat": fake_gitlab.FAKE_GLPAT,
        "kubeconfig token": fake_kubernetes.DEFAULT_TOKEN,
        "entra client secret": "demo-entra-secret-not-real",  # fixtures/fake_microsoft DEMO_SECRET
    }
    blob = b"".join(p.read_bytes() for p in written) + inventory_values(out / "residual.duckdb")
    assert hits_in(blob, demo_secrets) == []


def test_the_search_has_teeth():
    """The search finds a secret raw, base64-encoded at any offset inside longer text
    (as in a Kubernetes Secret or a docker config), url-safe, or cut in the middle."""
    v = PLANTED["k8s_secret"]
    for text in (f"x={v};".encode(), base64.b64encode(f"user:{v}".encode()),
                 base64.urlsafe_b64encode(f"ab{v}cd".encode()), f"...{v[8:-8]}...".encode()):
        assert hits_in(text, {"k": v}) == ["k"] * len(hits_in(text, {"k": v})) and hits_in(text, {"k": v})
    assert hits_in(b"hint: resi...2Lq8Rt6Y", {"k": v}) == []  # a hint is not a hit

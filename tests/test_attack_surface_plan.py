"""Attack surface: `residual plan --format sh` from hostile estate values (issue 15).

A revocation plan is run with an admin's credentials, and every value in it comes from
payloads, files and repositories that whoever residual scans controls: a deploy key's
title, a SCIM user id, a Terraform file path with a newline in it. Here every string of
every record a plan step reads is hostile (quotes, ``$(...)``, backticks, ``;``, ``|``,
``&``, newlines, carriage returns, an OSC 52 clipboard write), one finding per rule the
plan knows is planted on every object, and the plan the real CLI writes is run by
``/bin/sh`` with only stub tools on PATH: the stubs log their argv; a ``pwned`` stub is
what every injection tries to run. Nothing but the plan's own tools may run, and the
hostile values must arrive as single, intact arguments.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

from scanner.core.model import Account, Credential, Finding, Identity, Resource
from scanner.core.store import Inventory
from scanner.plan import STEP_BUILDERS
from tests.conftest import NOW, run_cli, write_config

# one payload per shell construct; the separators the plan splits ids on (/ : | -> #)
# sit between them so every piece of a split id still carries one
P = "x'\"$(pwned)`pwned`;pwned;|pwned&pwned\npwned\r\x1b]52;c;cHduZWQ=\x07{a,b}*"
H = f"{P}/{P}:{P}|{P}->{P}#{P} {P}"
FILE_WITH_NEWLINE = "infra/main.tf\npwned #"
TOOLS = ("aws", "gh", "curl", "kubectl", "jq", "xargs", "grep", "eksctl", "residual", "vault", "az", "gcloud", "uuidgen")


def _records(ident: str) -> list:
    """An account and a credential of every system and kind the plan has a step for,
    every string field hostile."""
    out: list = []
    systems = {"aws": ["user", "role"], "github": ["user"], "gitlab": ["user"],
               "kubernetes": ["user"], "okta": ["user"], "scim": ["user"]}
    cred_kinds = {"aws": ["access_key", "password", "ssh_key", "signing_cert", "service_credential",
                          "mfa_device"],
                  "github": ["deploy_key", "ssh_key", "pat"], "gitlab": ["pat", "deploy_token", "deploy_key",
                                                                         "ssh_key"],
                  "kubernetes": ["sa_token", "client_cert"], "okta": ["api_key", "mfa_device"],
                  "scim": ["api_key"]}
    attrs = {"repo": H, "parent": f"x|project:{H}", "token_type": "impersonation_token", "user_id": H,
             "key_id": H, "namespace": H, "cn": H, "groups": [H, H], "grant_id": H, "slot": H,
             "invitation": True, "invitation_id": H, "identity_center": True, "identity_store": H,
             "invited_to": f"x|group:{H}", "environment_scope": H, "instance": H, "user_name": H}
    for system, kinds in systems.items():
        for kind in kinds:
            for status in ("active", "pending"):
                for native in (H, f"ServiceAccount:{H}", f"credential-authorization:{H}"):
                    acc = Account(system, f"{system}:{H}", native + kind + status, H, kind=kind, status=status,
                                  attributes=attrs)
                    out.append(acc)
        for kind in cred_kinds[system]:
            for native in (H, f"credential-authorization:{H}", f"fine-grained-pat:{H}"):
                out.append(Credential(system, f"{system}:{H}", native + kind, kind, holder=out[-1].uid, name=H,
                                      created_at=NOW, attributes=attrs, fingerprint=H))
    out.append(Resource("github", f"github:{H}", H, "ci_secret", H, attributes={"parent": f"x|{H}"}))
    out.append(Resource("gitlab", f"gitlab:{H}", H, "ci_variable", H,
                        attributes={"parent": f"x|group:{H}", "environment_scope": H}))
    return out


def _findings(ident: str, records: list) -> list[Finding]:
    evidence = {k: H for k in ("principal", "cluster", "permission_set", "target", "credential", "account",
                               "project", "binding", "subject", "membership", "where", "context",
                               "detector", "hint", "commit", "region", "link", "location", "parent")}
    subjects = [getattr(r, "node", "") for r in records] + [""]
    out = []
    for rule in STEP_BUILDERS:
        for system in ("github", "gitlab", "iac:x"):
            for subject in subjects:
                for location in (f"secrets/{H}/{H}#{H}", FILE_WITH_NEWLINE):
                    out.append(Finding(rule=rule, severity="high", title=H, layer="iac", system=system,
                                       identity=ident, subject=subject, object_kind=H, object_id=H,
                                       object_name=H, location_path=location, location_line=3,
                                       evidence={**evidence, "rotation_enabled": subject == "",
                                                 "assignment_scope": "GROUP" if subject else "USER"},
                                       remediation=H, fingerprint=H))
    for n, f in enumerate(out):
        f.fingerprint = f"fp{n}"
    return out


def _stubs(tmp: Path) -> tuple[Path, Path, Path]:
    bin_dir, log, pwned = tmp / "bin", tmp / "argv.log", tmp / "PWNED"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).write_text(f"#!/bin/sh\nprintf '%s\\0' {tool} \"$@\" >> {log}\nprintf '\\036' >> {log}\n")
    (bin_dir / "pwned").write_text(f"#!/bin/sh\nprintf 'ran\\n' >> {pwned}\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir, log, pwned


def test_sh_plan_from_hostile_values_runs_nothing_but_its_own_tools(tmp_path):
    ident = "alice@example.com"
    records = _records(ident)
    findings = _findings(ident, records)
    inv = Inventory(tmp_path / "h.duckdb")
    sid = inv.begin_scan("test")
    inv.insert(sid, [Identity(ident, status="terminated", terminated_at=NOW, emails=[ident]),
                     *records, *findings])
    inv.finish_scan(sid)
    inv.close()
    cfg = write_config(tmp_path, {"inventory": str(tmp_path / "h.duckdb")})
    r = run_cli("plan", "-c", str(cfg), ident, "--format", "sh", "-o", str(tmp_path / "plan.sh"))
    assert r.returncode == 0, r.stderr
    script = (tmp_path / "plan.sh").read_text()
    assert script.count("\n") > 100  # the plan has a step per object
    for line in script.splitlines():  # no control character reaches a comment or a command
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), line

    bin_dir, log, pwned = _stubs(tmp_path)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "GITLAB_URL": "https://gl.invalid",
           "GITLAB_TOKEN": "t", "OKTA_URL": "https://okta.invalid", "OKTA_TOKEN": "t",
           "SCIM_URL": "https://scim.invalid", "SCIM_TOKEN": "t", "NEW_VALUE": "v",
           **{k: "t" for k in ("GOOGLE_ADMIN_TOKEN", "SLACK_ADMIN_TOKEN", "OPENAI_ADMIN_KEY",
                               "ANTHROPIC_ADMIN_KEY", "ATLASSIAN_ADMIN_KEY")}}
    run = subprocess.run(["/bin/sh", str(tmp_path / "plan.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert not pwned.exists(), "a hostile value ran a command"
    assert run.returncode == 0, run.stderr[-2000:]  # nothing unknown ran: every command was a stub
    assert "not found" not in run.stderr
    calls = [c.split("\0")[:-1] for c in log.read_text().split("\036") if c]
    assert {c[0] for c in calls} <= set(TOOLS)
    assert calls[-1] == ["residual", "verify", "-c", str(cfg.resolve()), "--live", ident]  # ran to its end
    args = [a for c in calls for a in c]
    # the hostile values arrive whole, as one argument each (a control character as "?")
    shown = re.sub(r"[\x00-\x1f\x7f]", "?", H)
    assert ["jq", "-r", "--arg", "title", shown] == next(c for c in calls if c[:2] == ["jq", "-r"]
                                                           and "title" in c)[:5]
    assert f"https://scim.invalid/Users/{quote(H + 'useractive', safe='')}" in args  # SCIM id, encoded
    assert shown in next(c for c in calls if c[:3] == ["aws", "iam", "delete-login-profile"])
    assert os.listdir(tmp_path / "bin") and not (tmp_path / "pwned").exists()

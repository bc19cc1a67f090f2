"""The shell plan runs as written: a preamble names every variable the steps read (filled
from the config where it knows the value, else checked before the first step), steps a
person must answer stay as commented instructions, and the re-verify passes ``-c``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scanner.plan import Step, render_plan, shell_env

GITLAB = 'curl -sS -g -H "PRIVATE-TOKEN: $GITLAB_TOKEN" -X POST "$GITLAB_URL/api/v4/users/7/block"'
EDIT = "kubectl -n prod edit secret db  # put a new credential in PASSWORD"
STEPS = [Step(2, "gitlab", "block the user", GITLAB, "f1", "r", "high"),
         Step(1, "kubernetes", "replace the credential", EDIT, "f2", "r", "high"),
         Step(7, "residual", "re-verify", "residual verify -c /etc/residual.yaml --live alice@example.com",
              "", "", "info")]


def _run(script: str, tmp: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("curl", "kubectl", "residual"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} "$@" >> "{tmp}/ran"\n')
        (bin_dir / tool).chmod(0o755)
    (tmp / "plan.sh").write_text(script)
    return subprocess.run(["/bin/sh", str(tmp / "plan.sh")], env={"PATH": str(bin_dir), **env},
                          capture_output=True, text=True, timeout=60)


def test_the_preamble_fills_what_the_config_knows_and_stops_on_what_it_does_not(tmp_path):
    known = shell_env({"gitlab": [{"url": "https://gitlab.acme.test/"}], "okta": [{"domain": "a.okta.com"},
                                                                                 {"domain": "b.okta.com"}]})
    assert known == {"GITLAB_URL": "https://gitlab.acme.test"}  # two Okta orgs: not guessed
    script = render_plan(STEPS, "alice@example.com", "sh", known)
    assert "GITLAB_URL=${GITLAB_URL:-https://gitlab.acme.test}  # the GitLab instance URL" in script
    assert ': "${GITLAB_TOKEN:?set GITLAB_TOKEN: a GitLab admin token' in script
    assert script.index("GITLAB_TOKEN:?") < script.index("# --- phase 1")  # before the first step
    stopped = _run(script, tmp_path)
    assert stopped.returncode != 0 and "set GITLAB_TOKEN" in stopped.stderr
    assert not (tmp_path / "ran").exists()  # nothing ran before the check
    done = _run(script, tmp_path, GITLAB_TOKEN="t")
    assert done.returncode == 0, done.stderr
    ran = (tmp_path / "ran").read_text().splitlines()
    assert ran[0].startswith("curl ") and "https://gitlab.acme.test/api/v4/users/7/block" in ran[0]
    assert ran[-1] == "residual verify -c /etc/residual.yaml --live alice@example.com"


def test_an_interactive_step_is_an_instruction_not_a_command(tmp_path):
    script = render_plan(STEPS, "alice@example.com", "sh", {"GITLAB_URL": "https://g"})
    assert f"# by hand (interactive): {EDIT}" in script
    assert not any(line.startswith("kubectl") for line in script.splitlines())
    _run(script, tmp_path, GITLAB_TOKEN="t")
    assert not any(line.startswith("kubectl") for line in (tmp_path / "ran").read_text().splitlines())


def test_a_plan_without_variables_has_no_preamble():
    script = render_plan(STEPS[2:], "alice@example.com", "sh")
    assert "the variables the steps read" not in script

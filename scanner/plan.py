"""Revocation plan: each finding of an identity turned into the exact step that removes
it, in an order that does not break dependants, ending with a re-verify.

residual stays read-only: the plan is text for a person or an automation to run.

Order (phases), and why:
1. rotate shared secrets the leaver could read (CI secrets, Secrets Manager, a live key
   sitting in a Kubernetes Secret or a file): while their old value still works for the
   services that use it, a new value can be rolled out; revoking the person first does
   not stop them from using a copied shared secret, and revoking a key that services
   still use breaks them;
2. revoke credentials (keys, tokens, SSH/deploy keys, factors, certificates): these work
   even when the account is later disabled on several systems;
3. remove grants (trust policies, bindings, mappings, app assignments, memberships,
   invitations, schedules that run as them);
4. disable or delete accounts;
5. reassign NHIs the leaver owned;
6. clean leftover references in code (so the next apply does not recreate access);
7. re-verify.

Every rule in the catalog maps to a step through ``STEP_BUILDERS`` (by rule id; a source's
own rules bring theirs) and, for the generic credential and account rules, by the object's
system: the source that declares it gives the step (``collectors/<source>/remediation.py``,
contract in collectors/remediation.py); ids come from
the records the collectors stored (a GitLab user's numeric id, an AWS key id, a GitHub
credential authorization id), never guessed. Where no API can remove the access (a
Kubernetes client certificate), the step says so and names what does.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from collectors.registry import remediation_modules
from collectors.remediation import Builder, Objects, after_pipe, cm, cred_of, q, tail
from scanner.core.model import Account, Credential, Finding, Identity, Resource, severity_rank
from scanner.core.store import Inventory

PHASES = {1: "rotate shared secrets", 2: "revoke credentials", 3: "remove grants",
          4: "disable accounts", 5: "reassign owned NHIs", 6: "clean references in code",
          7: "re-verify"}


@dataclass
class Step:
    phase: int
    system: str
    action: str
    command: str  # a shell command (aws, kubectl, gh api, curl) or an exact instruction (#)
    finding: str  # finding fingerprint ("" for the re-verify step)
    rule: str
    severity: str
    note: str = ""


# --- per system: asked of the source's remediation module ----------------------------------


def _remediation(system: str) -> Any:
    return remediation_modules().get(system.split(":", 1)[0])


def _ask(system: str, step: str, *args: Any) -> tuple[str, str, str] | None:
    """The source's own step, if its remediation module has one for this."""
    fn = getattr(_remediation(system), step, None)
    return fn(*args) if fn else None


def credential_step(c: Credential, acc: Account | None, objs: Objects | None = None) -> tuple[str, str, str]:
    """(action, command, note) that revokes credential ``c`` at its issuer: the step of
    the source that declares its system (``collectors/<source>/remediation.py``)."""
    step = _ask(c.system, "credential_step", c, acc)
    return step or (f"revoke the {c.kind.replace('_', ' ')}",
                    f"# revoke {cm(c.kind)} {cm(c.name or c.native_id)} in {cm(c.source)} (no revocation API is known for it)", "")


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str]:
    step = _ask(acc.system, "account_step", acc, suspended)
    return step or (f"disable the {acc.kind}", f"# disable {cm(acc.login or acc.native_id)} in {cm(acc.source)}", "")


def owner_step(acc: Account | None, f: Finding) -> tuple[str, str, str]:
    """Record a new accountable owner for an NHI, where its ownership is recorded."""
    name = f.object_name or f.object_id
    step = _ask(acc.system, "owner_step", acc, f) if acc is not None else None
    return step or ("record a new owner in the roster",
                    f"# roster: set the owner column of {cm(name)} to its new accountable owner",
                    "the roster is where this NHI's ownership is recorded")


# --- per rule ---------------------------------------------------------------------------------


def _revoke(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    c, acc = cred_of(f, objs)
    if c is None:
        return (2, f"revoke the {f.object_kind}", f"# revoke {cm(f.object_kind)} {cm(f.object_name or f.object_id)} "
                f"in {cm(f.system)} (not in this scan's inventory: re-run the scan)", "")
    return (2, *credential_step(c, acc, objs))


def _rotate_credential(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Unrotated: issue a new one, move its users over, then revoke the old one. A
    leaver's own credential is not rotated (that would issue them a new one): revoked."""
    c, acc = cred_of(f, objs)
    if f.identity in objs.leavers:
        return _revoke(f, objs)
    own = _ask(c.system, "rotate_step", c, acc) if c is not None else None
    if own:
        return (1, *own)
    phase, action, cmd, note = _revoke(f, objs)
    return (1, f"reissue, then {action}", f"# issue a replacement and deploy it, then:\n{cmd}", note)


def _no_expiry(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    c, _ = cred_of(f, objs)
    if f.identity in objs.leavers:
        return _revoke(f, objs)
    own = _ask(c.system, "no_expiry_step", c) if c is not None else None
    if own:
        return (1, *own)
    return _rotate_credential(f, objs)


def _disable_account(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    if acc is None:
        return (4, f"disable the {f.object_kind}", f"# disable {cm(f.object_name or f.object_id)} in {cm(f.system)}", "")
    return (4, *account_step(acc, suspended=f.rule == "account.active_while_suspended"))


def _unowned(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Nobody answers for it: record an owner where the system keeps one (a tag, an
    annotation), else in the roster; removing it is the alternative, not the default
    (an unowned account can be the admin everything runs on)."""
    acc = objs.accounts.get(f.subject)
    if acc is not None and hasattr(_remediation(acc.system), "owner_step"):  # a tag, an annotation
        action, cmd, _ = owner_step(acc, f)
        note = "or remove it if nobody needs it: " + account_step(acc)[1].splitlines()[0]
        return (5, action, cmd, note)
    name = f.object_name or f.object_id
    note = ("or remove it if nobody needs it: " + account_step(acc)[1].splitlines()[0]) if acc else ""
    return (5, "record an owner in the roster",
            f"# roster: add a row for {cm(name)} ({cm(f.system)}) with its accountable owner", note)


def _nhi_owner(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Where the ownership was read from is where it is fixed: a tag or annotation on the
    NHI, or the roster's owner column."""
    acc = objs.accounts.get(f.subject)
    from_tag = str(f.evidence.get("link") or "").startswith("tag")
    return (5, *owner_step(acc if from_tag else None, f))


def _ci_secret(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    res = objs.resources.get(f.subject)
    parent = after_pipe((res.attributes if res else {}).get("parent") or f.evidence.get("parent"))
    step = _ask(f.system, "ci_secret_step", f, res, parent)
    return (1, *(step or ("rotate the shared CI secret: a new value at its issuer, then here",
                          f"# set a new value for {cm(f.object_name)} in {cm(f.system)}", "")))


def _exposure(f: Finding, objs: Objects) -> list[tuple[int, str, str, str]]:
    """A secret in a file: whoever read the file has it. With the credential known, roll
    out a replacement and clean the file (phase 1), then revoke it (phase 2); without,
    rotate it at its issuer."""
    where = cm(f"{f.location_path}:{f.location_line}" if f.location_line else (f.location_path or f.object_id))
    c, _ = cred_of(f, objs)
    if f.rule == "exposure.tfstate":
        tail = (f"# move the state to an encrypted remote backend with restricted access and delete {cm(f.location_path)}; "
                "every secret in it must be rotated")
    elif f.rule.startswith("exposure.history") or f.evidence.get("commit"):
        tail = (f"# remove it from {where}, then purge it from history: "
                f"git filter-repo --replace-text <(echo 'SECRET==>REDACTED') and force-push")
    else:
        tail = f"# remove it from {where} (read it from a secret store instead)"
    if c is None:
        rotate = (f"# rotate the {cm(f.evidence.get('detector') or 'secret')} "
                  f"{cm(f.evidence.get('hint') or f.object_name)} at its issuer")
        return [(1, "rotate the exposed secret at its issuer, then remove it from the file",
                 f"{rotate}\n{tail}", "whoever read the file has the secret")]
    return [(1, "replace the exposed credential where it is used, and remove it from the file",
             f"# issue a replacement for {cm(c.name or c.native_id)} ({cm(c.system)}) to whatever uses it\n{tail}",
             "whoever read the file has the secret: it is revoked in phase 2"), _revoke(f, objs)]


def _invitation(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    if acc is None:
        return (3, "cancel the invitation", f"# cancel the invitation {cm(f.object_id)} in {cm(f.system)}", "")
    return (3, *account_step(acc))


def _deploy_key(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    return _revoke(f, objs)


def _reference(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    where = cm(f"{f.location_path}:{f.location_line}" if f.location_line else (f.location_path or f.object_id))
    ctx = cm(f.evidence.get("context") or "")
    if f.rule == "reference.recreates_leaver":
        return (6, "remove the leaver from the code that would recreate their access",
                f"# {where} ({ctx}): remove or replace {cm(f.object_name)}, then review `terraform plan` / the next apply",
                "until this changes, the next apply grants the access again")
    return (6, "replace the leaver in the file",
            f"# {where} ({ctx}): replace {cm(f.object_name)} with a current owner", "")


def _agent(f: Finding, objs: Objects) -> Any:
    """An agent acting for a leaver: an MCP server's config gets a credential of its own
    (phase 1) before the leaver's is revoked (phase 2); an agent's own key is revoked; an
    agent whose sponsor left gets a new owner."""
    if f.object_kind == "mcp_server":
        where = cm(f"{f.location_path}:{f.location_line}" if f.location_line else f.location_path)
        return [(1, "give the MCP server a credential of its own (a service account or app token)",
                 f"# {where}: replace the leaver's credential in the {cm(f.evidence.get('server'))} entry's "
                 "env/headers with a reference to a secret store holding a team-owned credential",
                 "the agent stops working with the leaver's authority only once the file changes"),
                _revoke(f, objs)]
    if f.subject in objs.credentials:
        return _revoke(f, objs)
    return _nhi_owner(f, objs)


def _session(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """Sessions end through the opt-in revoker (journaled, re-verified); the provider's
    own call is the note (the source's ``session_note``), for a responder without
    residual's write credentials."""
    cmd = f"residual revoke-sessions {q(f.identity or f.object_id)} --apply"
    user = tail(str(f.path[1] if len(f.path) > 1 else f.object_id), "|")
    note = _ask(f.system, "session_note", f, user) or f"or end the sessions in {cm(f.system)}'s admin console"
    return (2, "end the identity's live sessions", cmd, note)


# The generic rules' builders; a source's own rules bring theirs (RULE_STEPS in its
# remediation module).
STEP_BUILDERS: dict[str, Builder] = {
    "agent.acting_for_leaver": _agent,
    "session.live_after_termination": _session,
    "session.used_after_termination": _session,
    "session.assumed_role_not_revoked": _session,
    "account.active_after_termination": _disable_account,
    "account.active_while_suspended": _disable_account,
    "account.unowned": _unowned,
    "codehost.invitation_to_leaver": _invitation,
    "codehost.ci_secret_not_rotated": _ci_secret,
    "codehost.deploy_key_write_by_leaver": _deploy_key,
    "credential.live_of_leaver": _revoke,
    "credential.used_after_termination": _revoke,
    "credential.orphaned": _revoke,
    "nhi.owner_terminated": _nhi_owner,
    "credential.unused": _revoke,
    "credential.unrotated": _rotate_credential,
    "credential.no_expiry": _no_expiry,
    "exposure.live_credential": _exposure,
    "exposure.secret": _exposure,
    "exposure.tfstate": _exposure,
    "exposure.history_live": _exposure,
    "exposure.history_unverified": _exposure,
    "gitlab.impersonation_token_of_leaver": _revoke,
    "gitlab.token_created_by_leaver": _revoke,
    "kubernetes.client_cert_of_leaver": _revoke,
    "kubernetes.legacy_token_unused": _revoke,
    "kubernetes.sa_token_owner_left": _revoke,
    "okta.api_token_of_leaver": _revoke,
    "reference.recreates_leaver": _reference,
    "reference.leaver": _reference,
}


for _module in remediation_modules().values():
    STEP_BUILDERS.update(getattr(_module, "RULE_STEPS", {}))


def _fallback(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    """A rule this module does not know yet: by what the finding is about."""
    if f.subject in objs.credentials:
        return _revoke(f, objs)
    if f.subject in objs.accounts:
        return _disable_account(f, objs)
    if f.layer == "iac":
        return _reference(f, objs)
    return (3, f"remove {f.object_kind or 'the access'} in {f.system}",
            f"# {cm(f.title)}: {cm(f.object_name or f.object_id)} ({cm(f.remediation)})",
            "no exact step is known for this rule yet")


def source_rule_steps() -> dict[str, Builder]:
    """Rule id -> builder, from the source packages' remediation modules."""
    return {rid: fn for m in remediation_modules().values() for rid, fn in getattr(m, "RULE_STEPS", {}).items()}


def steps_for(f: Finding, objs: Objects) -> list[Step]:
    """The revocation step(s) for one finding (two when a dependant must be served
    before the revocation: a secret in use)."""
    objs.revoke = objs.revoke or _revoke
    out = STEP_BUILDERS.get(f.rule, _fallback)(f, objs)
    return [Step(phase, f.system, action, command, f.fingerprint, f.rule, f.severity, note)
            for phase, action, command, note in (out if isinstance(out, list) else [out])]


def load_objects(inv: Inventory, scan_id: str, findings: list[Finding]) -> Objects:
    """The credentials, accounts and resources the findings' steps refer to."""
    subjects = {f.subject for f in findings}
    wanted_creds = subjects | {f"credential:{f.evidence.get('credential')}" for f in findings
                               if f.evidence.get("credential")}
    objs = Objects()
    for c in inv.iter(Credential, scan_id):
        if c.node in wanted_creds:
            objs.add(c)
    holders = {c.holder for c in objs.credentials.values() if c.holder}
    logins = {str(f.evidence.get("account")) for f in findings if f.evidence.get("account")}
    for a in inv.iter(Account, scan_id):
        if a.uid in holders or a.node in subjects or a.login in logins:
            objs.add(a)
    parents = {f.object_id.partition("->")[2] for f in findings if "->" in f.object_id}
    for r in inv.iter(Resource, scan_id):
        if r.node in subjects or r.uid in parents:
            objs.add(r)
    return objs


def build_plan(inv: Inventory, scan_id: str, identity: str, config_path: str | None = None) -> list[Step]:
    """``config_path``: the config the re-verify step passes (``-c``), as the plan was made with."""
    findings = [f for f in inv.load(Finding, scan_id, "identity = ?", [identity])
                if f.status != "waived" and severity_rank(f.severity) >= severity_rank("low")]
    objs = load_objects(inv, scan_id, findings)
    objs.leavers = {i.id for i in inv.load(Identity, scan_id, "id = ?", [identity]) if i.is_leaver}
    steps = sorted((st for f in findings for st in steps_for(f, objs)),
                   key=lambda s: (s.phase, -severity_rank(s.severity), s.system, s.command))
    config = f" -c {q(config_path)}" if config_path else ""
    return dedupe(steps) + [Step(7, "residual", "re-verify", f"residual verify{config} --live {q(identity)}",
                                 "", "", "info", "exit 0 means every configured layer is clean")]


def dedupe(steps: list[Step]) -> list[Step]:
    """Two findings on one object (live, and used after termination; a key in a Secret
    that is revoked anyway) give one step: a step whose every command line is already
    planned (or, for an instruction only, whose text is) is dropped."""
    done: set[str] = set()
    out = []
    for st in steps:
        runnable = [ln for ln in st.command.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if (all(ln in done for ln in runnable) if runnable else st.command in done):
            continue
        done.update(runnable or [st.command])
        out.append(st)
    return out


# --- the shell plan -----------------------------------------------------------------------

# A step a person must answer (an editor, a prompt on stdin) cannot run under a script:
# it stays in the plan as a commented instruction.
INTERACTIVE = re.compile(r"^\s*(kubectl\s.*\sedit\s|gh\s+secret\s+set\s)")
SHELL_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
PLAN_VARS = {"NEW_VALUE": "the new value of the rotated secret, from its issuer"}


def shell_vars() -> dict[str, str]:
    """Every variable a step may read, with what it is: the sources' SHELL_VARS."""
    out = dict(PLAN_VARS)
    for mod in remediation_modules().values():
        out.update(getattr(mod, "SHELL_VARS", {}))
    return out


def shell_env(collectors: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """The variables the config knows (an instance URL), from each source's ``shell_env``
    over its configured blocks; never a credential."""
    out: dict[str, str] = {}
    mods = remediation_modules()
    for name, blocks in (collectors or {}).items():
        fn = getattr(mods.get(name), "shell_env", None)
        if fn and isinstance(blocks, list):
            out.update(fn([b for b in blocks if isinstance(b, dict)]))
    return out


def _word(text: str) -> str:
    """Text safe inside a double-quoted ``${VAR:?...}`` message."""
    return re.sub(r'[\\"`$]', "", cm(text))


def sh_preamble(commands: list[str], known: dict[str, str]) -> list[str]:
    """Every variable the commands read, named: filled from the config where it knows it,
    else checked (``${VAR:?}`` stops the script before its first step, saying what to set)."""
    used = sorted({v for c in commands for v in SHELL_VAR.findall(c)})
    if not used:
        return []
    about = shell_vars()
    lines = ["", "# --- the variables the steps read"]
    for v in used:
        what = _word(about.get(v, "read by a step below"))
        if v in known:
            lines.append(f"{v}=${{{v}:-{q(known[v])}}}  # {what} (from the config)")
        else:
            lines.append(f': "${{{v}:?set {v}: {what}}}"')
    return lines


def _sh_command(command: str) -> list[str]:
    return [cm(f"# by hand (interactive): {line}") if INTERACTIVE.match(line) else line
            for line in command.splitlines()]


def render_plan(steps: list[Step], identity: str, fmt: str, known: dict[str, str] | None = None) -> str:
    """``known``: shell variables the config gives (``shell_env``), for the sh preamble."""
    if fmt == "json":
        return json.dumps({"identity": identity, "steps": [asdict(s) for s in steps]}, indent=2)
    if fmt == "sh":
        body: list[str] = []
        phase = None
        for s in steps:
            if s.phase != phase:
                phase = s.phase
                body += ["", f"# --- phase {s.phase}: {PHASES[s.phase]}"]
            body.append(cm(f"# [{s.severity}] {s.action} ({s.rule or 'check'} {s.finding[:12]})"))
            if s.note:
                body.append(cm(f"# note: {s.note}"))
            body += _sh_command(s.command)
        live = [line for line in body if not line.lstrip().startswith("#")]
        lines = ["#!/bin/sh", f"# Revocation plan for {cm(identity)}, generated by residual (read-only).",
                 "# Review every step before running it. Order matters: see the phases.", "set -eu",
                 *sh_preamble(live, known or {}), *body]
        return "\n".join(lines) + "\n"
    lines = [f"# Revocation plan for {identity}", "",
             "residual is read-only: these are the steps for a person or an automation to run.", ""]
    phase = None
    n = 0
    for s in steps:
        if s.phase != phase:
            phase = s.phase
            lines += [f"## Phase {s.phase}: {PHASES[s.phase]}", ""]
        n += 1
        lines.append(f"{n}. **{s.action}** ({s.system}, {s.severity}{', ' + s.rule if s.rule else ''})")
        body = "\n".join(f"   {line}" for line in s.command.splitlines())
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", body)), default=0))
        lines.append(f"   {fence}sh\n{body}\n   {fence}")  # no value can close the fence
        if s.note:
            lines.append(f"   _{s.note}_")
    return "\n".join(lines) + "\n"

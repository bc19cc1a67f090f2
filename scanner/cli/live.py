"""Real-time offboarding commands: `residual plan` and `residual watch`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from collectors.revoke import RevokeRefused
from scanner.cli.common import (
    EXIT_INTERRUPTED, UsageFailure, config_option, load, open_inventory, setup_logging, write_private,
)
from scanner.core.errors import ConfigError
from scanner.core.model import Identity
from scanner.plan import build_plan, render_plan, shell_env
from scanner.resolve import Resolver
from scanner.revocation import configured_revokers
from scanner.ssf import SsfPushSource, Transmitter
from scanner.watch import (
    OktaEventHookSource, OktaLogSource, RosterFileSource, ScimActiveSource, Sinks, WatchStats,
    targeted_verify, verify_and_revoke, watch_loop,
)


@click.command()
@config_option
@click.argument("identity")
@click.option("--scan", "scan_id", default=None, help="scan id (default: the latest)")
@click.option("--format", "fmt", type=click.Choice(["md", "sh", "json"]), default="md", show_default=True,
              help="md: for a ticket; sh: a script to review and run; json: for automation")
@click.option("-o", "--output", default=None, help="file to write (default: stdout)")
def plan(config_path: str, identity: str, scan_id: str | None, fmt: str, output: str | None) -> None:
    """The revocation plan for IDENTITY: every finding as the exact step that removes
    it, in a safe order, ending with a re-verify. residual itself changes nothing."""
    config = load(config_path)
    with open_inventory(config, read_only=True) as inv:
        sid = scan_id or inv.latest_scan_id()
        if not sid or not inv.scan(sid):
            raise UsageFailure("no such scan; run `residual scan` or `residual verify` first")
        ident = Resolver(inv.load(Identity, sid)).find(identity)
        if ident is None:
            raise UsageFailure(f"{identity}: not in the roster of scan {sid}")
        if not scan_id:  # not someone else's targeted verify (a watch may have run since)
            sid = inv.latest_scan_about(ident.id) or sid
        click.echo(f"plan from scan {sid}", err=True)
        if not ident.is_leaver:  # revoking an active identity's access is rarely what was meant
            click.echo(f"residual: warning: {ident.id} is {ident.status} in the roster, not a leaver: "
                       "this plan would remove access someone still uses", err=True)
        steps = build_plan(inv, sid, ident.id, config_path=str(Path(config.path).resolve()) if config.path else None)
        text = render_plan(steps, ident.id, fmt, known=shell_env(config.collectors))
    if output:
        write_private(Path(output), text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)

@click.command()
@config_option
@click.option("--roster-file", type=click.Path(path_type=Path), default=None,
              help="watch this roster CSV (default: the config's first CSV roster)")
@click.option("--okta-url", default=None, help="poll this Okta org's System Log")
@click.option("--okta-token", envvar="OKTA_TOKEN", default=None, show_envvar=True,
              help="a read-only Okta API token (prefer the environment variable)")
@click.option("--okta-since", default=None,
              help="first run only: read the System Log from this time (default: now)")
@click.option("--okta-hook", "okta_hook", default=None, metavar="HOST:PORT",
              help="receive Okta Event Hooks here (put it behind TLS); spooled beside the state")
@click.option("--okta-hook-secret", envvar="OKTA_HOOK_SECRET", default=None, show_envvar=True,
              help="the Authorization header value configured on the Okta event hook")
@click.option("--scim-url", default=None, help="poll this SCIM app's users' active flag")
@click.option("--scim-name", default="scim", show_default=True, help="the SCIM app's name in verdicts and the roster")
@click.option("--scim-token", envvar="SCIM_TOKEN", default=None, show_envvar=True,
              help="the SCIM app's bearer token (prefer the environment variable)")
@click.option("--jsonl", "jsonl", type=click.Path(path_type=Path), default=None,
              help="also append each verdict to this JSON-lines file")
@click.option("--webhook", default=None, help="also POST each verdict to this URL")
@click.option("--interval", type=float, default=30.0, show_default=True,
              help="seconds between two polls of the roster file, Okta and SCIM")
@click.option("--once", is_flag=True, help="poll once and exit (cron-style)")
@click.option("--state", "state_path", type=click.Path(path_type=Path), default=None,
              help="where the cursor is kept (default: beside the inventory)")
@click.option("--ssf", "ssf", default=None, metavar="HOST:PORT",
              help="receive OpenID Shared Signals (CAEP/RISC SETs, RFC 8935 push) here (put it behind TLS)")
@click.option("--ssf-transmitter", "ssf_transmitters", multiple=True, metavar="ISSUER=JWKS",
              help="a trusted SSF transmitter: its issuer and its JWKS URL or file (repeatable)")
@click.option("--ssf-audience", default=None, help="the audience the SETs must name")
@click.option("--revoke-sessions", "revoke_sessions", is_flag=True,
              help="also end the identity's live sessions (sources with a `revoke:` block)")
def watch(config_path: str, roster_file: Path | None, okta_url: str | None,
          okta_token: str | None, okta_since: str | None, okta_hook: str | None,
          okta_hook_secret: str | None, scim_url: str | None,
          scim_name: str, scim_token: str | None, jsonl: Path | None, webhook: str | None,
          interval: float, once: bool, state_path: Path | None,
          revoke_sessions: bool = False, ssf: str | None = None,
          ssf_transmitters: tuple[str, ...] = (), ssf_audience: str | None = None) -> None:
    """React to identity status changes with a targeted verify of that identity.

    Exit 0 when every event was handled, 3 with --once when one could not be (it is
    retried at the next run; the state file keeps the place), 130 on Ctrl-C."""
    config = load(config_path)
    setup_logging(0, True, config)
    sources: list = []
    csv_block = next((b for b in config.roster if b["kind"] == "csv"), None)
    if roster_file is None and csv_block:
        p = Path(csv_block["path"])
        roster_file = p if p.is_absolute() else config.base_dir / p
    if roster_file:
        sources.append(RosterFileSource(roster_file))
    if okta_url:
        if not okta_token:
            raise UsageFailure("--okta-url needs --okta-token (or OKTA_TOKEN)")
        sources.append(OktaLogSource(okta_url, okta_token, since=okta_since))
    if scim_url:
        sources.append(ScimActiveSource(scim_name, scim_url, scim_token))
    state = state_path or config.inventory.with_name(config.inventory.name + ".watch.json")
    hook = None
    if okta_hook:
        host, _, port = okta_hook.rpartition(":")
        if not okta_hook_secret or not port.isdigit():
            raise UsageFailure("--okta-hook HOST:PORT needs --okta-hook-secret (or OKTA_HOOK_SECRET)")
        hook = OktaEventHookSource(state.with_name(state.name + ".okta-hook.jsonl"), okta_hook_secret)
        sources.append(hook)
    receiver = None
    if ssf:
        host_s, _, port_s = ssf.rpartition(":")
        pairs = [t.split("=", 1) for t in ssf_transmitters]
        if not port_s.isdigit() or not pairs or any(len(p) != 2 or not all(p) for p in pairs):
            raise UsageFailure("--ssf HOST:PORT needs --ssf-transmitter ISSUER=JWKS (URL or file)")
        receiver = SsfPushSource(state.with_name(state.name + ".ssf.jsonl"),
                                 [Transmitter(i, j) for i, j in pairs], audience=ssf_audience)
        sources.append(receiver)
    if not sources:
        raise UsageFailure("nothing to watch: give --roster-file, --okta-url, --okta-hook or --scim-url")
    if receiver is not None and not once:
        click.echo(f"receiving SSF SETs on {receiver.serve(host_s or '127.0.0.1', int(port_s))}", err=True)
    if hook is not None and not once:  # --once only drains what was received
        click.echo(f"receiving Okta event hooks on {hook.serve(host or '127.0.0.1', int(port))}", err=True)

    if revoke_sessions:  # refuse now, in one line, rather than at the first event
        try:
            configured_revokers(config, datetime.now(UTC))
        except (RevokeRefused, ConfigError) as exc:
            raise UsageFailure(f"--revoke-sessions: {exc}") from None
    handle = (lambda ev: verify_and_revoke(config, ev)) if revoke_sessions else \
        (lambda ev: targeted_verify(config, ev))
    sinks = Sinks(stdout=True, file=jsonl, webhook=webhook, echo=click.echo)
    stats = WatchStats()
    try:
        n = watch_loop(sources, state, handle, sinks,
                       interval=interval, once=once, stats=stats)
    except KeyboardInterrupt:  # interrupted, not "every event handled": the cursor keeps the place
        click.echo("residual: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        if hook is not None:
            hook.stop()
        if receiver is not None:
            receiver.stop()
    click.echo(f"handled {n} event(s)" + (f", {stats.failed} failed (retried next time)"
                                           if stats.failed else ""), err=True)
    sys.exit(3 if stats.failed else 0)

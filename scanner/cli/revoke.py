"""`residual revoke-sessions ID`: end a leaver's live sessions (dry run unless --apply)."""

from __future__ import annotations

import json
import sys

import click

from collectors.revoke import RevokeRefused
from scanner.cli.common import UsageFailure, config_option, load, open_inventory, setup_logging
from scanner.core.errors import ConfigError
from scanner.core.timeparse import json_default
from scanner.revocation import revoke_identity


@click.command("revoke-sessions")
@config_option
@click.argument("identity")
@click.option("--apply", "apply", is_flag=True,
              help="send the writes (default: a dry run that prints what it would do)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per action; json: the actions and the provider's answers")
@click.option("-q", "--quiet", is_flag=True, help="no progress lines on stderr (errors still show)")
def revoke_sessions(config_path: str, identity: str, apply: bool, fmt: str, quiet: bool) -> None:
    """End IDENTITY's live sessions in every source with a `revoke:` block: Okta
    sessions and OAuth tokens, Slack sessions, the AWS roles she could assume.
    Sessions only; standing credentials stay in `residual plan`. Journaled in the
    inventory; a crashed run resumes; a targeted re-verify follows.

    Exit 0 when every step was sent (or, dry run, planned), 1 when one failed (run it
    again: the steps already done are not repeated), 2 refused."""
    config = load(config_path)
    setup_logging(0, quiet or fmt == "json", config)
    echo = (lambda s: None) if quiet or fmt == "json" else (lambda s: click.echo(s, err=True))
    try:
        with open_inventory(config) as inv:
            report = revoke_identity(config, inv, identity, apply=apply, echo=echo)
    except (RevokeRefused, ConfigError) as exc:
        raise UsageFailure(f"revoke-sessions: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), default=json_default, sort_keys=True))
    sys.exit(0 if report.ok else 1)

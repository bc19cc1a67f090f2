"""Slack: what ``residual plan`` prints for a leaver's live sessions. The step itself is
``residual revoke-sessions`` (the opt-in revoker, revoke.py); the note is Slack's own
call, for a responder without residual's write credentials."""

from __future__ import annotations

from collectors.remediation import q
from scanner.core.model import Finding

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"SLACK_ADMIN_TOKEN": "an org admin's user token with admin.users:write"}


def session_note(f: Finding, user: str) -> str:
    """``admin.users.session.reset`` ends every session of the user across the org."""
    return ("or: curl -sS -H \"Authorization: Bearer $SLACK_ADMIN_TOKEN\" "
            f"-d user_id={q(user)} https://slack.com/api/admin.users.session.reset")

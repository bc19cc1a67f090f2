"""Slack session revoker (issue 20): ``admin.users.session.reset`` for a leaver.

Ends every session of the user across the Enterprise Grid org (desktop, web and mobile);
the user's account is left as it is (deactivation is standing access: ``plan``). Repeating
it is a no-op. The write token is the ``revoke:`` block's: an org admin's user token with
``admin.users:write`` (docs/permissions/slack.md), never the read token.
"""

from __future__ import annotations

from typing import Any

from collectors.revoke import (
    RevokeAction, RevokeContext, RevokeResult, provider_answer, register_revoker,
)
from scanner.core import http
from scanner.core.options import Option
from scanner.core.model import Account, Identity


@register_revoker
class SlackRevoker:
    system = "slack"
    options = {"token": Option(str, required=True, secret=True)}

    def __init__(self, revoke_config: dict[str, Any], context: RevokeContext):
        from slack_sdk import WebClient

        self.ctx = context
        base_url = context.read_config.get("base_url") or "https://slack.com/api/"
        self.client = WebClient(token=revoke_config["token"], timeout=int(context.timeout_s),
                                base_url=base_url if base_url.endswith("/") else base_url + "/",
                                retry_handlers=[])

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
        return [RevokeAction("slack", acc.source, identity.id, acc.uid, "session_reset", acc.native_id,
                             f"Slack {acc.source}: admin.users.session.reset user_id={acc.native_id} "
                             f"(end {acc.login}'s sessions on every device)")
                for acc in accounts if acc.kind == "user"]

    def apply(self, action: RevokeAction) -> RevokeResult:
        from slack_sdk.errors import SlackApiError

        delays = http.backoff_delays(self.ctx.max_retries)
        while True:
            try:
                resp = self.client.admin_users_session_reset(user_id=action.target)
                return RevokeResult(action, True, resp.status_code, "sessions reset")
            except SlackApiError as exc:
                r = exc.response
                error = str((r.data if isinstance(r.data, dict) else {}).get("error") or f"HTTP {r.status_code}")
                if error == "ratelimited" or r.status_code == 429:
                    delay = next(delays, None)
                    if delay is not None:
                        http.sleep(http.retry_after_seconds(r.headers.get("Retry-After"), delay))
                        continue
                if error == "user_not_found":
                    return RevokeResult(action, True, r.status_code, "no such Slack user (nothing left to end)")
                return RevokeResult(action, False, r.status_code, provider_answer(error))

"""Okta session revoker (issue 20): ends a leaver's Okta sessions and OAuth tokens.

- ``revoke_sessions``: ``DELETE /api/v1/users/{id}/sessions?oauthTokens=true`` (204): every
  Okta session of the user, and with ``oauthTokens`` her refresh and access tokens. Her
  consent grants stay (they are standing access: ``plan``). Repeating it is a no-op.
- ``universal_logout`` (when the ``revoke:`` block says ``universal_logout: true``; it
  needs Identity Threat Protection): ``POST /oauth2/v1/global-token-revocation`` with
  ``{"sub_id": {"format": "opaque", "id": "00u..."}}`` (204), which also asks the apps
  that support Global Token Revocation to end their sessions.

The write token is the ``revoke:`` block's, never the read ``token`` (docs/permissions/okta.md:
``okta.users.manage`` for the first, ``okta.universalLogout.manage`` for the second).
"""

from __future__ import annotations

from typing import Any

import requests

from scanner.core import http
from collectors.revoke import (
    RevokeAction, RevokeContext, RevokeResult, provider_answer, register_revoker,
)
from scanner.core.options import Option
from scanner.core.model import Account, Identity


@register_revoker
class OktaRevoker:
    system = "okta"
    options = {
        "token": Option(str, required=True, secret=True),
        "token_type": Option(str, default="SSWS", choices=("SSWS", "Bearer")),
        "universal_logout": Option(bool, default=False),
    }

    def __init__(self, revoke_config: dict[str, Any], context: RevokeContext):
        self.config = revoke_config
        self.ctx = context
        self.domain = str(context.read_config.get("domain") or "")
        self.source = f"okta:{self.domain}"
        self.base_url = (context.read_config.get("base_url") or f"https://{self.domain}").rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({
            "Accept": "application/json",
            "Authorization": f"{revoke_config.get('token_type') or 'SSWS'} {revoke_config['token']}"})

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
        out = []
        for acc in accounts:
            if acc.source != self.source or acc.kind != "user":
                continue
            who = acc.login or acc.native_id
            out.append(RevokeAction(
                "okta", self.source, identity.id, acc.uid, "revoke_sessions", acc.native_id,
                f"Okta {self.domain}: DELETE /api/v1/users/{acc.native_id}/sessions?oauthTokens=true "
                f"(end {who}'s sessions and OAuth tokens)"))
            if self.config.get("universal_logout"):
                out.append(RevokeAction(
                    "okta", self.source, identity.id, acc.uid, "universal_logout", acc.native_id,
                    f"Okta {self.domain}: POST /oauth2/v1/global-token-revocation for {who} "
                    "(Universal Logout: her sessions in the apps that support it)"))
        return out

    def apply(self, action: RevokeAction) -> RevokeResult:
        user = requests.utils.quote(action.target, safe="")
        if action.verb == "revoke_sessions":
            url = f"{self.base_url}/api/v1/users/{user}/sessions"
            resp = http.send_with_retries(
                lambda: self.session.delete(url, params={"oauthTokens": "true"},
                                            timeout=self.ctx.timeout_s, allow_redirects=False),
                self.ctx.max_retries)
        elif action.verb == "universal_logout":
            url = f"{self.base_url}/oauth2/v1/global-token-revocation"
            body = {"sub_id": {"format": "opaque", "id": action.target}}
            resp = http.send_with_retries(
                lambda: self.session.post(url, json=body, timeout=self.ctx.timeout_s,
                                          allow_redirects=False),
                self.ctx.max_retries)
        else:
            return RevokeResult(action, False, None, f"unknown Okta action {action.verb}")
        return okta_result(action, resp)


def okta_result(action: RevokeAction, resp: requests.Response) -> RevokeResult:
    """204 is done. A 404 on the user means Okta has no such user: nothing is left to end."""
    if resp.status_code in (200, 204):
        return RevokeResult(action, True, resp.status_code, "revoked")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    detail = provider_answer(f"HTTP {resp.status_code} {body.get('errorCode') or ''} "
                             f"{str(body.get('errorSummary') or '')[:200]}".strip())
    if resp.status_code == 404 and action.verb == "revoke_sessions":
        return RevokeResult(action, True, 404, "no such user in Okta (nothing left to end)")
    return RevokeResult(action, False, resp.status_code, detail)

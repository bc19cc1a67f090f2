"""Entra session revoker (issue 20's contract): ends a leaver's Entra sign-in sessions.

``revoke_sessions``: ``POST /users/{id}/revokeSignInSessions`` (200, ``{"value": true}``)
sets the user's ``signInSessionsValidFromDateTime`` to now: every refresh token and
session cookie issued before stops working (access tokens already issued live out their
hour, or less with continuous access evaluation). Repeating it is harmless. OAuth
consents, app ownerships, devices and role assignments are standing access: they stay in
``residual plan``.

The write credential is the ``revoke:`` block's (a separate app registration granted
``User.RevokeSessions.All``), never the read one; the tenant, the authority and Graph's
address come from the read block (``RevokeContext.read_config``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from collectors.entra.auth import AUTH_OPTIONS, GRAPH_SCOPE, build_credential
from collectors.entra.collector import GRAPH_URL
from collectors.entra.http import GraphError, MicrosoftClient
from collectors.revoke import RevokeAction, RevokeContext, RevokeResult, provider_answer, register_revoker
from scanner.core.model import Account, Identity

# what the revoke: block may carry: the write credential only
WRITE_KEYS = ("auth", "client_id", "client_secret", "certificate_path", "certificate_password",
              "federated_token_file")
# where the API is: taken from the read block
WHERE_KEYS = ("tenant_id", "authority_host", "ca_bundle", "base_url", "graph_scope")


@register_revoker
class EntraRevoker:
    system = "entra"
    options = {k: AUTH_OPTIONS[k] for k in WRITE_KEYS}

    def __init__(self, revoke_config: dict[str, Any], context: RevokeContext):
        self.ctx = context
        read = context.read_config
        self.source = f"entra:{read.get('name') or read.get('tenant_id')}"
        self.block = {**{k: read.get(k) for k in WHERE_KEYS}, **{k: revoke_config.get(k) for k in WRITE_KEYS}}
        self._client: MicrosoftClient | None = None

    def client(self) -> MicrosoftClient:
        if self._client is None:
            self._client = MicrosoftClient(
                self.block.get("base_url") or GRAPH_URL, build_credential(self.block, self.ctx.max_retries),
                self.block.get("graph_scope") or GRAPH_SCOPE, timeout=self.ctx.timeout_s,
                max_retries=self.ctx.max_retries, verify=self.block.get("ca_bundle") or True,
                writes=(r"^/[^?]*/users/[^/]+/revokeSignInSessions$",))
        return self._client

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
        return [RevokeAction("entra", self.source, identity.id, acc.uid, "revoke_sessions", acc.native_id,
                             f"Entra {self.source}: POST /users/{acc.native_id}/revokeSignInSessions "
                             f"(end {acc.login or acc.native_id}'s sessions and refresh tokens)")
                for acc in accounts if acc.source == self.source and acc.kind == "user"]

    def apply(self, action: RevokeAction) -> RevokeResult:
        if action.verb != "revoke_sessions":
            return RevokeResult(action, False, None, f"unknown Entra action {action.verb}")
        try:
            resp = self.client().send("POST", f"/users/{quote(action.target, safe='')}/revokeSignInSessions")
        except GraphError as exc:
            if exc.status == 404:  # the user is gone: no session of theirs is left
                return RevokeResult(action, True, 404, "no such user in Entra ID (nothing left to end)")
            return RevokeResult(action, False, exc.status or None, provider_answer(str(exc)))
        return RevokeResult(action, True, resp.status_code, "revoked")

"""Google Workspace session revoker (issue 20's contract): signs a leaver out.

- ``sign_out``: Directory ``users.signOut(userKey)`` (204): ends every web and device
  session of the user (Google's "Sign-in cookies reset"). Repeating it is a no-op; a user
  Google no longer has (404) has nothing left to end. OAuth grants, app passwords and
  devices are standing access: they stay in ``residual plan`` (tokens.delete, asps.delete,
  device wipe) for a person to approve.

The write credentials are the ``revoke:`` block's own: a service-account key
(``credentials_file``, default Application Default Credentials) with domain-wide
delegation for ``admin.directory.user.security`` and an admin ``subject`` allowed to
manage user security, never the read block's (docs/permissions/google_workspace.md).
"""

from __future__ import annotations

from typing import Any

from collectors.google_client import AUTH, GoogleApiError, GoogleClient, key_file
from collectors.revoke import RevokeAction, RevokeContext, RevokeResult, provider_answer, register_revoker
from scanner.core.options import Option
from scanner.core.model import Account, Identity

SIGN_OUT_SCOPE = AUTH + "admin.directory.user.security"


@register_revoker
class GoogleWorkspaceRevoker:
    system = "google_workspace"
    options = {
        "subject": Option(str, required=True),  # an admin allowed to sign users out
        "credentials_file": Option(str),  # the write service account's key; default: ADC
    }

    def __init__(self, revoke_config: dict[str, Any], context: RevokeContext):
        self.config = revoke_config
        self.ctx = context
        self.customer = str(context.read_config.get("customer") or "my_customer")
        self.source = f"google_workspace:{self.customer}"
        self.calls = 0
        self._client: GoogleClient | None = None

    def client(self) -> GoogleClient:
        if self._client is None:
            self._client = GoogleClient(
                scopes=[SIGN_OUT_SCOPE], credentials_file=key_file(self.config, self.ctx.base_dir),
                subject=self.config["subject"], endpoint=self.ctx.read_config.get("api_endpoint"),
                timeout=self.ctx.timeout_s, max_retries=self.ctx.max_retries, on_call=self._count)
        return self._client

    def _count(self) -> None:
        self.calls += 1

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
        return [RevokeAction("google_workspace", self.source, identity.id, acc.uid, "sign_out", acc.native_id,
                             f"Google Workspace {self.customer}: users.signOut {acc.login or acc.native_id} "
                             "(end every web and device session)")
                for acc in accounts if acc.source == self.source and acc.kind == "user"]

    def apply(self, action: RevokeAction) -> RevokeResult:
        if action.verb != "sign_out":
            return RevokeResult(action, False, None, f"unknown Google Workspace action {action.verb}")
        try:
            client = self.client()
            d = client.service("admin", "directory_v1")
            client.execute(d.users().signOut(userKey=action.target), "users.signOut")
        except GoogleApiError as exc:
            if exc.kind == "not_found":
                return RevokeResult(action, True, 404, "no such user in Google Workspace (nothing left to end)")
            return RevokeResult(action, False, exc.status or None, provider_answer(str(exc)))
        return RevokeResult(action, True, 204, "signed out")

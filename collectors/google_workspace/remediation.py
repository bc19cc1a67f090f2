"""What ``residual plan`` prints for Workspace findings: the Admin SDK call that removes
each one (curl with an admin access token in ``$GOOGLE_ADMIN_TOKEN``, e.g. from
``gcloud auth print-access-token`` of an admin with the write scopes), ids shell-quoted.

Builders take (finding, objects) and return (phase, action, command, note); phases are
scanner.plan's (2 revoke credentials, 3 remove grants, 4 disable accounts).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from collectors.remediation import cm, q

# the variables its steps read, for the shell plan's preamble (scanner.plan.sh_preamble)
SHELL_VARS = {"GOOGLE_ADMIN_TOKEN": "an access token of a Workspace admin with the write scopes "
                                    "(gcloud auth print-access-token)"}

API = "https://admin.googleapis.com/admin/directory/v1"
CURL = 'curl -sS -H "Authorization: Bearer $GOOGLE_ADMIN_TOKEN"'



def _seg(value: Any) -> str:
    return quote(str(value), safe="@")


def _user_key(c: Any, acc: Any) -> str:
    return str(c.attributes.get("user_key") or (acc.native_id if acc else "") or "USER_KEY")


def _customer(source: str) -> str:
    return source.split(":", 1)[1] if ":" in source else "my_customer"


def sign_out(user_key: str) -> str:
    return f"{CURL} -X POST {q(f'{API}/users/{_seg(user_key)}/signOut')}"


def credential_step(c: Any, acc: Any) -> tuple[str, str, str] | None:
    """(action, command, note) that removes one Workspace credential, or None."""
    user = _user_key(c, acc)
    a = c.attributes
    if c.kind == "oauth_grant":
        url = f"{API}/users/{_seg(user)}/tokens/{_seg(a.get('client_id') or c.native_id.rsplit(':', 1)[-1])}"
        return ("delete the OAuth grant (tokens.delete)", f"{CURL} -X DELETE {q(url)}",
                "the app's refresh token dies with the grant; sessions end with users.signOut "
                "(residual revoke-sessions, or the account step)")
    if c.kind == "app_password":
        url = f"{API}/users/{_seg(user)}/asps/{_seg(a.get('code_id') or c.native_id.rsplit(':', 1)[-1])}"
        return ("delete the app-specific password (asps.delete)", f"{CURL} -X DELETE {q(url)}", "")
    if c.kind == "device" and a.get("device") == "mobile":
        base = f"{API}/customer/{_seg(_customer(c.source))}/devices/mobile/{_seg(a.get('resource_id'))}"
        return ("wipe the account from the phone, then remove the device (mobiledevices.action, delete)",
                f"{CURL} -X POST -H 'Content-Type: application/json' {q(base + '/action')} "
                "-d '{\"action\":\"admin_account_wipe\"}'\n"
                f"{CURL} -X DELETE {q(base)}",
                "admin_account_wipe removes only the work account's data; admin_remote_wipe resets the phone")
    if c.kind == "device" and a.get("device") == "chromeos":
        base = f"{API}/customer/{_seg(_customer(c.source))}/devices/chromeos/{_seg(a.get('device_id'))}"
        return ("deprovision the Chromebook (chromeosdevices.action)",
                f"{CURL} -X POST -H 'Content-Type: application/json' {q(base + '/action')} "
                "-d '{\"action\":\"deprovision\",\"deprovisionReason\":\"retiring_device\"}'",
                "or disable it (action: disable) if it is to be recovered")
    return None


def account_step(acc: Any, suspended: bool = False) -> tuple[str, str, str]:
    url = f"{API}/users/{_seg(acc.native_id)}"
    return ("suspend the user and sign them out (users.update suspended=true, users.signOut)",
            f"{CURL} -X PUT -H 'Content-Type: application/json' {q(url)} -d '{{\"suspended\":true}}'\n"
            f"{sign_out(acc.native_id)}",
            "suspension keeps grants, app passwords and devices: their own steps remove them")


def _login_after(f: Any, objs: Any) -> tuple[int, str, str, str]:
    acc = objs.accounts.get(f.subject)
    if acc is None:
        return (2, "sign the user out", f"# sign {cm(f.object_name)} out in the Admin console (users.signOut)", "")
    action, cmd, note = account_step(acc)
    return (2, "sign the user out and suspend them; reset the password", cmd,
            "then review the Reports (drive, gmail, token) for what was done after the termination")


def _token_used(f: Any, objs: Any) -> tuple[int, str, str, str]:
    c = objs.credentials.get(f.subject)
    got = credential_step(c, objs.accounts.get(c.holder or "")) if c is not None else None
    if got is not None:
        return (2, *got)
    return (2, "sign the user out (the grant is gone already)",
            f"# the grant of {cm(f.object_name)} is no longer listed; sign the user out (users.signOut) "
            "and ask the app's owner what it did with the data", "")


def _revoke(f: Any, objs: Any) -> tuple[int, str, str, str]:
    c = objs.credentials.get(f.subject)
    got = credential_step(c, objs.accounts.get(c.holder or "")) if c is not None else None
    if got is None:
        return (2, f"remove the {f.object_kind}", f"# remove {cm(f.object_name or f.object_id)} in the Admin console", "")
    return (2, *got)


RULE_STEPS = {
    "google_workspace.grant_of_leaver": _revoke,
    "google_workspace.app_password_of_leaver": _revoke,
    "google_workspace.device_of_leaver": _revoke,
    "google_workspace.login_after_termination": _login_after,
    "google_workspace.token_used_after_termination": _token_used,
}

"""What ``residual plan`` prints for Vault findings: the exact ``vault`` CLI call (the
HTTP API path in it: ``auth/token/revoke-accessor``, ``secret-id-accessor/destroy``,
``sys/leases/revoke``/``revoke-prefix``, ``identity/entity/id/<id>``), ids shell-quoted.
Every command takes ``-namespace`` when the object lives in an Enterprise namespace."""

from __future__ import annotations

from typing import Any

from collectors.remediation import cm, q


def _ns(attrs: dict[str, Any]) -> str:
    ns = attrs.get("namespace")
    return f" -namespace={q(ns)}" if ns and ns != "root" else ""


def credential_step(c, acc) -> tuple[str, str, str] | None:
    a = c.attributes
    if c.kind == "vault_token":
        return ("revoke the token by its accessor (its child tokens and leases go with it)",
                f"vault write{_ns(a)} auth/token/revoke-accessor accessor={q(a.get('accessor'))}",
                "revoking by accessor never needs the token itself")
    if c.kind == "secret_id":
        mount = a.get("mount") or "approle"
        return ("destroy the AppRole secret ID by its accessor",
                f"vault write{_ns(a)} auth/{mount}/role/{q(a.get('role'))}/secret-id-accessor/destroy "
                f"secret_id_accessor={q(a.get('accessor'))}",
                "issue the workload a new secret ID (with a TTL) first if it still logs in with this one")
    if c.kind == "lease":
        return ("revoke the lease (the database user or cloud key it issued is deleted)",
                f"vault write{_ns(a)} sys/leases/revoke lease_id={q(a.get('lease_id') or c.name)}\n"
                f"# every lease of the role, whoever holds it, if the role itself is compromised:\n"
                f"# vault write{_ns(a)} -f sys/leases/revoke-prefix/{q(a.get('role_path'))}",
                "revoke-prefix needs sudo and ends everyone's credentials of that role")
    return None


def account_step(acc, suspended=False) -> tuple[str, str, str] | None:
    a = acc.attributes
    if acc.native_id.startswith("entity:"):
        return ("disable the entity (Vault then refuses every token of it, and no login maps to it)",
                f"vault write{_ns(a)} identity/entity/id/{q(a.get('entity_id') or acc.native_id[7:])} disabled=true",
                "then delete its aliases, or the entity, once its tokens are revoked")
    return None


def _kv_rotate(f, objs) -> tuple[int, str, str, str]:
    res = objs.resources.get(f.subject)
    a = res.attributes if res else {}
    mount, path = a.get("mount") or "secret", a.get("path") or f.object_name
    ns = _ns(a)
    return (1, "rotate the shared Vault secret: a new value at its issuer, then a new KV version",
            f"# change the value at its issuer (database, API), then:\n"
            f"vault kv patch{ns} -mount={q(mount)} {q(path)} KEY=\"$NEW_VALUE\"",
            "the leaver's policy could read the old value; a new version does not revoke it at its issuer")


def _revoke(f, objs) -> tuple[int, str, str, str]:
    c = objs.credentials.get(f.subject)
    step = credential_step(c, objs.accounts.get(c.holder or "")) if c is not None else None
    if step is None:
        return (2, f"revoke the {f.object_kind}", f"# revoke {cm(f.object_kind)} {cm(f.object_id)} in {cm(f.system)} "
                "(not in this scan's inventory: re-run the scan)", "")
    return (2, *step)


RULE_STEPS = {"vault.kv_readable_by_leaver_not_rotated": _kv_rotate,
              "vault.token_of_leaver": _revoke, "vault.orphan_token_unowned": _revoke,
              "vault.secret_id_never_expires": _revoke, "vault.secret_id_created_by_leaver": _revoke,
              "vault.lease_of_leaver": _revoke}

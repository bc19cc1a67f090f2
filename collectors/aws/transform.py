"""AWS: pure transforms, payload -> records, and the account read the incremental rescan
digests. No I/O: IAM's answers (authorization details, the credential report, keys, Secrets
Manager, EKS, Identity Center) go in, records come out."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from collectors.aws.revoke import deny_cutoff
from collectors.base import Scope
from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.model import Account, Credential, Grant, Resource, make_uid
from scanner.core.timeparse import parse_time


SYSTEM = "aws"

REPORT_NONE = {"", "N/A", "n/a", "not_supported", "no_information", "None"}

# --- small helpers ---------------------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    """An aware UTC datetime from what boto3 or the credential report gives (the report
    writes N/A, no_information... for "never")."""
    if isinstance(value, str) and value.strip() in REPORT_NONE:
        return None
    return parse_time(value)


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _tags(tags: Iterable[dict[str, Any]] | dict[str, Any] | None) -> dict[str, str]:
    """AWS tag lists ([{Key, Value}], or EKS's plain mapping) as a dict."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out = {}
    for t in tags:
        if isinstance(t, dict) and "Key" in t:
            out[str(t["Key"])] = str(t.get("Value", ""))
    return out


# --- pure transforms: payload -> records ------------------------------------------------


REPORT_COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
    "password_last_changed", "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)


def parse_credential_report(content: bytes | str) -> tuple[dict[str, dict[str, str]], int]:
    """The IAM credential report (CSV) as {user name: row}, and how many rows were
    malformed (skipped). The root account's row is left out: root is not a person's
    account a roster can own."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or "user" not in header or "arn" not in header:
        raise ValueError("credential report has no header")
    rows: dict[str, dict[str, str]] = {}
    bad = 0
    for raw in reader:
        if not raw:
            continue
        if len(raw) != len(header):
            bad += 1
            continue
        row = dict(zip(header, raw))
        if not row.get("user") or not str(row.get("arn", "")).startswith("arn:"):
            bad += 1
            continue
        if row["user"] == "<root_account>":
            continue
        rows[row["user"]] = row
    return rows, bad


def transform_user(user: dict[str, Any], source: str,
                   report: dict[str, str] | None = None) -> tuple[Account, list[Grant]]:
    """One UserDetailList entry -> the user's Account and its group memberships."""
    tags = _tags(user.get("Tags"))
    report = report or {}
    last_seen = max((d for d in (_utc(report.get("password_last_used")),
                                 _utc(report.get("access_key_1_last_used_date")),
                                 _utc(report.get("access_key_2_last_used_date"))) if d),
                    default=None)
    owner_tagged = any(k.lower() in ("owner", "owner_email", "created-by", "created_by")
                       for k in tags) and not any(k.lower() == "email" for k in tags)
    acc = Account(
        system=SYSTEM, source=source, native_id=user["Arn"], login=user["UserName"],
        email=next((v for k, v in tags.items() if k.lower() == "email"), None),
        kind="service_account" if owner_tagged else "user", status="active",
        created_at=_utc(user.get("CreateDate")), last_seen_at=last_seen,
        attributes={
            "tags": tags, "user_id": user.get("UserId"), "path": user.get("Path", "/"),
            "groups": list(user.get("GroupList") or []),
            "attached_policies": [p.get("PolicyName") for p in user.get("AttachedManagedPolicies") or []],
            "inline_policies": [p.get("PolicyName") for p in user.get("UserPolicyList") or []],
            "password_enabled": _bool(report.get("password_enabled")) if report else None,
            "mfa_active": _bool(report.get("mfa_active")) if report else None,
        })
    account_id = user["Arn"].split(":")[4]
    grants = [Grant(system=SYSTEM, source=source, principal=acc.uid,
                    resource=make_uid(source, f"arn:aws:iam::{account_id}:group/{g}"),
                    permission="member", via="direct")
              for g in user.get("GroupList") or []]
    return acc, grants


def transform_group(group: dict[str, Any], source: str) -> Resource:
    return Resource(
        system=SYSTEM, source=source, native_id=group["Arn"], kind="group",
        name=group["GroupName"],
        attributes={"group_id": group.get("GroupId"), "path": group.get("Path", "/"),
                    "attached_policies": [p.get("PolicyName") for p in group.get("AttachedManagedPolicies") or []],
                    "inline_policies": [p.get("PolicyName") for p in group.get("GroupPolicyList") or []]})


def policy_document(doc: Any) -> dict[str, Any]:
    """A policy document as a dict, whether boto3 decoded it already or it is the
    URL-encoded JSON the raw API returns."""
    if isinstance(doc, dict):
        return doc
    if not doc:
        return {}
    text = str(doc)
    if text.lstrip().startswith("%7B") or "%22" in text:
        text = urllib.parse.unquote(text)
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def trust_principals(doc: Any) -> list[dict[str, Any]]:
    """Who a trust policy lets in: one entry per (principal, action) of every Allow
    statement. ``principal`` is the string as written: an ARN, an account id, a service,
    a federated provider, ``*``. Deny statements and NotPrincipal are ignored (they
    never grant)."""
    out = []
    statements = policy_document(doc).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions = [a for a in actions if a.lower().startswith("sts:assumerole") or a in ("*", "sts:*")]
        if not actions:
            continue
        principal = st.get("Principal")
        pairs: list[tuple[str, str]] = []
        if principal == "*":
            pairs.append(("*", "*"))
        elif isinstance(principal, dict):
            for ptype, values in principal.items():
                for v in ([values] if isinstance(values, str) else values or []):
                    pairs.append((ptype, str(v)))
        for ptype, value in pairs:
            for action in actions:
                out.append({"principal": value, "type": ptype, "action": action,
                            "conditions": bool(st.get("Condition"))})
    return out


def transform_role(role: dict[str, Any], source: str) -> tuple[Account | None, Resource, list[Grant]]:
    """One RoleDetailList entry -> the role as an Account (its tags name an owner; it
    has a last use), as a Resource (what trust grants point at), and its trust grants.
    Service-linked roles are AWS's own: a Resource, never an Account to own."""
    tags = _tags(role.get("Tags"))
    last_used = _utc((role.get("RoleLastUsed") or {}).get("LastUsedDate"))
    service_linked = str(role.get("Path", "")).startswith("/aws-service-role/")
    res = Resource(system=SYSTEM, source=source, native_id=role["Arn"], kind="role",
                   name=role["RoleName"],
                   attributes={"tags": tags, "role_id": role.get("RoleId"),
                               "path": role.get("Path", "/"), "service_linked": service_linked,
                               "last_used_at": last_used.isoformat() if last_used else None,
                               "attached_policies": [p.get("PolicyName") for p in role.get("AttachedManagedPolicies") or []],
                               "revoked_sessions_before": _revoked_before(role.get("RolePolicyList"))})
    acc = None
    if not service_linked:
        acc = Account(system=SYSTEM, source=source, native_id=role["Arn"], login=role["RoleName"],
                      email=next((v for k, v in tags.items() if k.lower() == "email"), None),
                      kind="role", status="active", created_at=_utc(role.get("CreateDate")),
                      last_seen_at=last_used,
                      attributes={"tags": tags, "role_id": role.get("RoleId"),
                                  "path": role.get("Path", "/")})
    grants = [Grant(system=SYSTEM, source=source, principal=p["principal"], resource=res.uid,
                    permission=p["action"], via="trust",
                    attributes={"principal_type": p["type"], "conditions": p["conditions"]})
              for p in trust_principals(role.get("AssumeRolePolicyDocument"))]
    return acc, res, grants


def _revoked_before(inline: Any) -> str | None:
    """The latest ``aws:TokenIssueTime`` before which an inline policy of the role denies
    everything (the console's "Revoke active sessions"), ISO 8601; None when none does."""
    cuts = [deny_cutoff(p.get("PolicyDocument")) for p in inline or [] if isinstance(p, dict)]
    cuts = [c for c in cuts if c is not None]
    return max(cuts).isoformat() if cuts else None


def access_key_uid_native(user_arn: str, slot: int) -> str:
    return f"{user_arn}#access_key_{slot}"


def transform_report_row(row: dict[str, str], holder: str, source: str) -> list[Credential]:
    """One credential-report row -> the user's password, access-key slots and
    certificate slots. A slot with no key (last_rotated N/A) is no credential."""
    arn = row["arn"]
    out: list[Credential] = []
    if _bool(row.get("password_enabled")):
        changed = _utc(row.get("password_last_changed"))
        out.append(Credential(
            system=SYSTEM, source=source, native_id=f"{arn}#password", kind="password",
            holder=holder, name=f"{row['user']} console password", status="active",
            created_at=changed, rotated_at=changed,
            last_used_at=_utc(row.get("password_last_used")),
            expires_at=_utc(row.get("password_next_rotation")),
            attributes={"mfa_active": _bool(row.get("mfa_active"))}))
    for slot in (1, 2):
        rotated = _utc(row.get(f"access_key_{slot}_last_rotated"))
        if rotated is None:
            continue
        out.append(Credential(
            system=SYSTEM, source=source, native_id=access_key_uid_native(arn, slot),
            kind="access_key", holder=holder, name=f"{row['user']} access key {slot}",
            status="active" if _bool(row.get(f"access_key_{slot}_active")) else "inactive",
            created_at=rotated, rotated_at=rotated,
            last_used_at=_utc(row.get(f"access_key_{slot}_last_used_date")),
            attributes={"slot": slot, "never_expires": True,
                        "last_used_region": _none(row.get(f"access_key_{slot}_last_used_region")),
                        "last_used_service": _none(row.get(f"access_key_{slot}_last_used_service"))}))
    for slot in (1, 2):
        active = _bool(row.get(f"cert_{slot}_active"))
        rotated = _utc(row.get(f"cert_{slot}_last_rotated"))
        if not active and rotated is None:
            continue
        out.append(Credential(
            system=SYSTEM, source=source, native_id=f"{arn}#cert_{slot}", kind="signing_cert",
            holder=holder, name=f"{row['user']} signing certificate {slot}",
            status="active" if active else "inactive", created_at=rotated, rotated_at=rotated,
            attributes={"slot": slot}))
    return out


def _none(value: Any) -> Any:
    return None if value is None or str(value) in REPORT_NONE else value


def assign_slots(keys: list[dict[str, Any]], row: dict[str, str] | None) -> dict[str, int]:
    """Which credential-report slot (1 or 2) each listed key is: the slot whose
    last_rotated equals the key's CreateDate (to the second); what is left goes in list
    order to the slots left."""
    row = row or {}
    slot_dates = {s: _utc(row.get(f"access_key_{s}_last_rotated")) for s in (1, 2)}
    taken: dict[str, int] = {}
    for k in keys:
        created = _utc(k.get("CreateDate"))
        for s, d in slot_dates.items():
            if d and created and s not in taken.values() and \
                    abs((d - created).total_seconds()) < 1:
                taken[k["AccessKeyId"]] = s
                break
    free = [s for s in (1, 2) if s not in taken.values()]
    for k in keys:
        if k["AccessKeyId"] not in taken and free:
            taken[k["AccessKeyId"]] = free.pop(0)
    return taken


def transform_access_keys(user_arn: str, user_name: str, holder: str, source: str,
                          keys: list[dict[str, Any]], row: dict[str, str] | None,
                          last_used: dict[str, datetime | None] | None = None) -> list[Credential]:
    """list_access_keys for one user -> deep access-key credentials (same uid as the
    bulk pass's slot records, with the real key id). A slot the report knew but the
    listing no longer has is re-emitted as revoked: the key is gone."""
    row = row or {}
    last_used = last_used or {}
    slots = assign_slots(keys, row)
    out = []
    for k in keys:
        kid = k["AccessKeyId"]
        slot = slots.get(kid)
        if slot is None:
            continue
        created = _utc(k.get("CreateDate"))
        used = last_used.get(kid) or _utc(row.get(f"access_key_{slot}_last_used_date"))
        out.append(Credential(
            system=SYSTEM, source=source, native_id=access_key_uid_native(user_arn, slot),
            kind="access_key", holder=holder, name=kid,
            status="active" if k.get("Status") == "Active" else "inactive",
            created_at=created, rotated_at=created, last_used_at=used,
            attributes={"slot": slot, "access_key_id": kid, "deep": True, "never_expires": True,
                        "last_used_region": _none(row.get(f"access_key_{slot}_last_used_region")),
                        "last_used_service": _none(row.get(f"access_key_{slot}_last_used_service"))}))
    for slot in (1, 2):
        if slot not in slots.values() and _utc(row.get(f"access_key_{slot}_last_rotated")):
            out.append(Credential(
                system=SYSTEM, source=source, native_id=access_key_uid_native(user_arn, slot),
                kind="access_key", holder=holder, name=f"{user_name} access key {slot}",
                status="revoked", attributes={"slot": slot, "deep": True,
                                              "note": "in the credential report, no longer listed"}))
    return out


def transform_ssh_key(key: dict[str, Any], user_arn: str, holder: str, source: str) -> Credential:
    """get_ssh_public_key (Encoding=SSH) -> an ssh_key credential whose fingerprint is
    the public key's SHA256 fingerprint, so resolve can match it on GitHub/GitLab."""
    return Credential(
        system=SYSTEM, source=source, native_id=f"{user_arn}#ssh/{key['SSHPublicKeyId']}",
        kind="ssh_key", holder=holder, name=key["SSHPublicKeyId"],
        status="active" if key.get("Status") == "Active" else "inactive",
        created_at=_utc(key.get("UploadDate")),
        fingerprint=ssh_fingerprint(key.get("SSHPublicKeyBody") or ""),
        attributes={"deep": True, "md5_fingerprint": key.get("Fingerprint"),
                    "ssh_public_key_id": key["SSHPublicKeyId"]})


def transform_signing_cert(cert: dict[str, Any], user_arn: str, holder: str, source: str,
                           slot: int | None) -> Credential:
    native = f"{user_arn}#cert_{slot}" if slot else f"{user_arn}#cert/{cert['CertificateId']}"
    body = cert.get("CertificateBody") or ""
    return Credential(
        system=SYSTEM, source=source, native_id=native, kind="signing_cert", holder=holder,
        name=cert["CertificateId"], status="active" if cert.get("Status") == "Active" else "inactive",
        created_at=_utc(cert.get("UploadDate")), rotated_at=_utc(cert.get("UploadDate")),
        fingerprint=("sha256:" + hashlib.sha256(body.encode()).hexdigest()) if body else None,
        attributes={"deep": True, "certificate_id": cert["CertificateId"], "slot": slot})


def transform_mfa_device(dev: dict[str, Any], holder: str, source: str) -> Credential:
    return Credential(
        system=SYSTEM, source=source, native_id=dev["SerialNumber"], kind="mfa_device",
        holder=holder, name=dev["SerialNumber"].rsplit("/", 1)[-1], status="active",
        created_at=_utc(dev.get("EnableDate")), attributes={"deep": True})


def transform_login_profile(profile: dict[str, Any] | None, user_arn: str, user_name: str,
                            holder: str, source: str,
                            row: dict[str, str] | None) -> Credential | None:
    """get_login_profile -> the deep password record; None when there is none and the
    report had none either. Gone since the report: re-emitted as revoked."""
    row = row or {}
    if profile is None:
        if not _bool(row.get("password_enabled")):
            return None
        return Credential(system=SYSTEM, source=source, native_id=f"{user_arn}#password",
                          kind="password", holder=holder, name=f"{user_name} console password",
                          status="revoked", attributes={"deep": True,
                                                        "note": "in the credential report, no login profile now"})
    changed = _utc(row.get("password_last_changed")) or _utc(profile.get("CreateDate"))
    return Credential(
        system=SYSTEM, source=source, native_id=f"{user_arn}#password", kind="password",
        holder=holder, name=f"{user_name} console password", status="active",
        created_at=_utc(profile.get("CreateDate")), rotated_at=changed,
        last_used_at=_utc(row.get("password_last_used")),
        expires_at=_utc(row.get("password_next_rotation")),
        attributes={"deep": True, "mfa_active": _bool(row.get("mfa_active")),
                    "password_reset_required": bool(profile.get("PasswordResetRequired"))})


def transform_service_credential(item: dict[str, Any], users: dict[str, "IamUser"],
                                 source: str) -> Credential:
    """CodeCommit/Keyspaces/Bedrock service-specific credentials: passwords that outlive
    console access and do not show in the credential report."""
    user = users.get(item.get("UserName", ""))
    expires = _utc(item.get("ExpirationDate"))
    return Credential(
        system=SYSTEM, source=source, native_id=item["ServiceSpecificCredentialId"],
        kind="service_credential", holder=user.uid if user else None,
        name=item.get("ServiceUserName") or item.get("ServiceCredentialAlias") or "",
        scopes=[item.get("ServiceName", "")],
        status="active" if item.get("Status") == "Active" else "inactive",
        created_at=_utc(item.get("CreateDate")), expires_at=expires,
        attributes={"never_expires": expires is None, "user_name": item.get("UserName")})


def transform_secret(secret: dict[str, Any], source: str, region: str) -> Resource:
    """Secrets Manager list entry -> a secret_store Resource with its rotation metadata.
    Never the value: the scanner has no reason to read it and the policy forbids it."""
    tags = _tags(secret.get("Tags"))
    rotated = _utc(secret.get("LastRotatedDate"))
    changed = _utc(secret.get("LastChangedDate"))
    return Resource(
        system=SYSTEM, source=source, native_id=secret["ARN"], kind="secret_store",
        name=secret.get("Name", ""), updated_at=rotated or changed,
        attributes={"tags": tags, "region": region,
                    "rotation_enabled": bool(secret.get("RotationEnabled")),
                    "last_rotated_at": rotated.isoformat() if rotated else None,
                    "last_changed_at": changed.isoformat() if changed else None,
                    "last_accessed_at": (_utc(secret.get("LastAccessedDate")).isoformat()
                                         if secret.get("LastAccessedDate") else None),
                    "created_at": (_utc(secret.get("CreatedDate")).isoformat()
                                   if secret.get("CreatedDate") else None),
                    "owning_service": secret.get("OwningService")})


def transform_cluster(cluster: dict[str, Any], source: str, region: str) -> Resource:
    mode = (cluster.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP"
    return Resource(
        system=SYSTEM, source=source, native_id=cluster["arn"], kind="cluster",
        name=cluster["name"], updated_at=_utc(cluster.get("createdAt")),
        attributes={"region": region, "authentication_mode": mode,
                    "endpoint": cluster.get("endpoint"), "version": cluster.get("version"),
                    "tags": _tags(cluster.get("tags"))})


def access_entry_permission(entry: dict[str, Any]) -> str:
    groups = ",".join(sorted(entry.get("kubernetesGroups") or []))
    return f"user:{entry.get('username') or ''} groups:{groups}"


def transform_access_entry(entry: dict[str, Any], cluster_uid: str, source: str) -> Grant:
    """An EKS access entry maps an IAM principal into the cluster as a Kubernetes user
    and groups: a path from a leaver's IAM user into Kubernetes."""
    return Grant(system=SYSTEM, source=source, principal=entry["principalArn"],
                 resource=cluster_uid, permission=access_entry_permission(entry), via="mapping",
                 attributes={"type": entry.get("type"), "access_entry_arn": entry.get("accessEntryArn"),
                             "username": entry.get("username"),
                             "groups": list(entry.get("kubernetesGroups") or []),
                             "created_at": (_utc(entry.get("createdAt")).isoformat()
                                            if entry.get("createdAt") else None),
                             "mapping": "eks_access_entry"})


def transform_sso_user(user: dict[str, Any], store_id: str, source: str) -> Account:
    emails = [e.get("Value") for e in user.get("Emails") or [] if e.get("Value")]
    primary = next((e.get("Value") for e in user.get("Emails") or [] if e.get("Primary")), None)
    return Account(
        system=SYSTEM, source=source, native_id=f"identitystore:{store_id}:user/{user['UserId']}",
        login=user.get("UserName", ""), email=primary or (emails[0] if emails else None),
        kind="user", status="active",
        attributes={"identity_center": True, "identity_store": store_id,
                    "linked_emails": emails, "display_name": user.get("DisplayName")})


def transform_assignment(a: dict[str, Any], store_id: str, ps_uid: str, source: str) -> Grant:
    kind = "user" if a.get("PrincipalType") == "USER" else "group"
    principal = make_uid(source, f"identitystore:{store_id}:{kind}/{a['PrincipalId']}")
    return Grant(system=SYSTEM, source=source, principal=principal, resource=ps_uid,
                 permission=f"account:{a.get('AccountId')}",
                 via="assignment" if kind == "user" else "group",
                 attributes={"principal_type": a.get("PrincipalType")})


def scoped_principals(scope: Scope, source: str, account_id: str) -> tuple[set[str], set[str], set[str]]:
    """For a targeted verify: (IAM user names to ask about, principal ARNs that are hers,
    role uids that are hers) in this account. From the accounts the last scans linked to
    her (user ARNs, role ARNs) and her ``aws:`` aliases; an alias becomes the ARN a trust
    policy or an access entry would name (``arn:aws:iam::<account>:user/<name>``), so a
    user deleted since still matches."""
    prefix = source + "|"
    names: set[str] = set()
    arns: set[str] = set()
    roles: set[str] = set()
    for uid in scope.accounts:
        if not uid.startswith(prefix):
            continue
        arn = uid[len(prefix):]
        if ":user/" in arn:
            names.add(arn.rsplit("/", 1)[-1])
            arns.add(arn)
        elif ":role/" in arn:
            roles.add(uid)
    role_names = {u.rsplit("/", 1)[-1] for u in roles}
    for login in scope.logins_for(SYSTEM) | scope.logins_for(source):
        login = str(login)
        if login.startswith("arn:"):
            if ":user/" in login and login.split(":")[4] == account_id:
                names.add(login.rsplit("/", 1)[-1])
                arns.add(login)
        elif login not in role_names and "@" not in login:
            names.add(login)
            arns.add(f"arn:aws:iam::{account_id}:user/{login}")
    return names, arns, roles


def names_principal(principal: str, arns: set[str], folded_names: set[str]) -> bool:
    """Does a trust policy principal name one of these users (by ARN, or a user ARN of
    the same name under any path: a recreated user is trusted again)?"""
    if principal in arns:
        return True
    return ":user/" in principal and principal.rsplit("/", 1)[-1].casefold() in folded_names


# --- incremental rescans ----------------------------------------------------------------

# Bump when a transform changes what the same payloads become: a token then no longer
# matches the previous scan's, and every account is transformed again.
TRANSFORM_VERSION = "aws/1"
DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList")


@dataclass
class AccountRead:
    """Everything the bulk pass read from one account, before any transform: the
    payloads the change token digests (response metadata, request ids and paging
    markers left out: they differ on every call)."""

    report: dict[str, dict[str, str]] | None = None
    report_stamp: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    service_credentials: list[dict[str, Any]] | None = None
    secrets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    clusters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    identity_center: list[dict[str, Any]] | None = None

    def token(self) -> str:
        """sha256 over the credential report (GeneratedTime + content digest) and every
        other payload, canonical JSON. Equal tokens mean equal transform inputs, hence
        equal records: that is what makes copying them sound."""
        h = hashlib.sha256(TRANSFORM_VERSION.encode())
        h.update(json.dumps(self.report_stamp, sort_keys=True).encode())
        for part in (self.details, self.service_credentials, self.secrets, self.clusters,
                     self.identity_center):
            h.update(b"\0" + json.dumps(part, sort_keys=True, default=str).encode())
        return "sha256:" + h.hexdigest()


def users_of(snap: AccountRead, source: str) -> dict[str, "IamUser"]:
    """The IAM users of an account read without transforming it (a reused account):
    what the deep pass needs to ask about the leavers' users."""
    out = {}
    for page in snap.details:
        for user in page.get("UserDetailList") or []:
            if isinstance(user, dict) and user.get("UserName") and user.get("Arn"):
                out[user["UserName"]] = IamUser(user["UserName"], user["Arn"],
                                                make_uid(source, user["Arn"]),
                                                (snap.report or {}).get(user["UserName"]))
    return out


@dataclass
class IamUser:
    name: str
    arn: str
    uid: str
    report: dict[str, str] | None = None

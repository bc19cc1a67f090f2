"""AWS: IAM users, groups, roles and their trust policies, credentials, Secrets Manager,
Identity Center and EKS access entries, read with boto3.

Why it is shaped this way:
- **Bulk pass in a handful of calls.** IAM lists keys, SSH keys and MFA devices only per
  user, which costs 5-9 calls per user. Two account-wide answers carry almost everything
  a residual-access scan needs: ``get_account_authorization_details`` (users, groups,
  membership, roles with trust policies and last use, tags) and the IAM credential report
  (per user: password, both access-key slots with rotation and last use, certificate
  slots). So the bulk pass costs about 7 calls for the whole account, whatever its size.
- **Deep pass only for the accounts in scope** (leavers', unowned, NHIs whose owner
  left): the real access key ids, SSH public keys, signing certificates, MFA devices and
  login profile. Records it re-emits carry the bulk record's uid and
  ``attributes["deep"] = True`` so that the engine keeps the richer version.
- **Only read calls** (List/Get/Describe/Generate; ``sts:AssumeRole`` for multi-account
  scans). Secrets Manager is read for rotation metadata only: never GetSecretValue.
- **Every HTTP request is counted** by a botocore ``before-send`` hook, which sees paged
  requests and retries alike, so Coverage.api_calls equals what the server received.
- **Incremental rescans**: the bulk pass reads every payload of an account first
  (get), digests them into a change token, and only then transforms and loads; an
  account whose token equals the previous complete scan's is copied in the inventory
  instead (``AccountRead.token``, docs/scale.md). IAM has no ETag: the reads are not
  saved, the transform and load are.
- **Retries are ours**, not botocore's: 429/5xx/throttling are retried with bounded
  backoff through ``scanner.core.http.sleep`` (tests make it instant); a refused
  connection is retried twice and then fails the target, which makes the verdict
  incomplete, never clean.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from collectors.aws.cloudtrail import collect_cloudtrail
from collectors.aws.revoke import deny_cutoff
from collectors.base import Collector, Scope, TargetRun
from scanner.core import errors, http
from scanner.core.http import backoff_delays, bounded_pages
from scanner.core.model import Account, Credential, Grant, Resource, make_uid
from scanner.core.options import Option
from scanner.core.secrets import AWS_KEY_ID
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.aws")

SYSTEM = "aws"
READ_PREFIXES = ("List", "Get", "Describe", "Generate")

RETRYABLE_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    "SlowDown", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
    "InternalError", "InternalServerError", "InternalServerException",
    "PriorRequestNotComplete",
}
# An optional endpoint answering these is "skipped", not "failed": the account or the
# endpoint does not offer it, or the scanner's role may not read it.
SKIP_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotImplemented",
    "InvalidAction", "UnknownOperationException", "UnrecognizedClientException",
    "404", "NoSuchEntity", "ResourceNotFoundException", "OptInRequired",
    "SubscriptionRequiredException",
}

# The IAM actions an optional part needs (docs/permissions/aws.md), named in its
# "skipped" row when AWS answers AccessDenied.
IAM_NEEDS = {
    "iam:service_specific_credentials": "iam:ListServiceSpecificCredentials",
    "identity_center": "sso:ListInstances, sso:ListPermissionSets, sso:ListAccountAssignments, "
                       "identitystore:ListUsers",
}
CONNECT_RETRIES = 2

REPORT_NONE = {"", "N/A", "n/a", "not_supported", "no_information", "None"}


# --- small helpers ---------------------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    """An aware UTC datetime from what boto3 or the credential report gives."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    if text in REPORT_NONE:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


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


def _error_code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None) or {}
    code = str((resp.get("Error") or {}).get("Code") or "")
    return code or str((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or "")


def _not_implemented(exc: BaseException) -> bool:
    """moto answers operations it lacks with NotImplementedError (in process) or a
    500/404 saying so (server): for us that is the same as an endpoint not offered."""
    if isinstance(exc, NotImplementedError):
        return True
    return "not been implemented" in str(exc) or "Not yet implemented" in str(exc)


def ssh_fingerprint(public_key: str) -> str | None:
    """OpenSSH's SHA256 fingerprint ("SHA256:<base64, no padding>") of a public key in
    SSH format ("ssh-rsa AAAA... comment")."""
    parts = (public_key or "").strip().split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:  # binascii.Error included
        return None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


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


# --- the collector --------------------------------------------------------------------


@dataclass
class IamUser:
    name: str
    arn: str
    uid: str
    report: dict[str, str] | None = None


@dataclass
class AwsTarget:
    """One AWS account reached in the bulk pass, kept for the deep pass."""

    account_id: str
    session: Any
    source: str
    users: dict[str, IamUser] = field(default_factory=dict)


def _botocore_session(credentials_file: str | None) -> Any:
    """A botocore session reading CREDENTIALS_FILE (None: boto3's default chain). Pinning
    the file keeps the environment's own AWS credentials away from an endpoint_url that
    is not AWS (the demo's moto server)."""
    if not credentials_file:
        return None
    import botocore.session
    session = botocore.session.Session()
    session.set_config_variable("credentials_file", str(Path(credentials_file).expanduser()))
    return session


class AwsCollector(Collector):
    name = "aws"
    layer = "cloud"
    options = {
        "name": Option(str, default=""),
        "profile": Option(str, default=None),
        # a shared-credentials file for `profile` instead of ~/.aws/credentials (the demo's)
        "credentials_file": Option(str, default=None),
        "regions": Option(list, default=["us-east-1"], item_type=str),
        "endpoint_url": Option(str, default=None),
        "assume_roles": Option(list, default=[], item_type=str),
        "identity_center": Option(bool, default=False),
        # the instance's home region (an instance lives in one region only); unset: the
        # first configured region that has an instance
        "identity_center_region": Option(str),
        "secrets_manager": Option(bool, default=True),
        "eks": Option(bool, default=True),
        "cloudtrail": Option(bool, default=False),  # deep pass: leavers' events (collectors/aws/cloudtrail.py)
        "cloudtrail_endpoint_url": Option(str, default=None),
        "cloudtrail_days": Option(int, default=90),
        "revoke": Option(dict),  # write credentials for the session revoker (collectors/revoke.py)
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self.targets: list[AwsTarget] = []
        self.malformed = 0
        self._clients: dict[tuple[int, str, str], Any] = {}
        self._groups_of: dict[str, list[str]] = {}  # targeted verify: user name -> groups
        self.regions: list[str] = list(config.get("regions") or ["us-east-1"])
        self._report_stamp: dict[str, Any] = {}

    def describe(self) -> str:
        return f"aws:{self.config['name']}" if self.config.get("name") else "aws"

    # -- clients ----------------------------------------------------------------------
    def _boto_config(self) -> Any:
        from botocore.config import Config
        return Config(connect_timeout=min(5.0, self.ctx.timeout_s), read_timeout=self.ctx.timeout_s,
                      retries={"total_max_attempts": 1, "mode": "standard"},
                      user_agent_extra="residual-scanner")

    def _client(self, session: Any, service: str, region: str | None = None) -> Any:
        """One client per (session, service, region), each counting its requests."""
        key = (id(session), service, region or self.regions[0])
        if key not in self._clients:
            client = session.client(service, region_name=key[2],
                                    endpoint_url=self.config.get("endpoint_url") or None,
                                    config=self._boto_config())
            client.meta.events.register("before-send", self._on_send)
            self._clients[key] = client
        return self._clients[key]

    def cloudtrail_client(self, session: Any, region: str, endpoint: str | None) -> Any:
        """CloudTrail may live at its own endpoint (tests: a fake; moto has no LookupEvents)."""
        key = (id(session), "cloudtrail", region)
        if key not in self._clients:
            client = session.client("cloudtrail", region_name=region, endpoint_url=endpoint,
                                    config=self._boto_config())
            client.meta.events.register("before-send", self._on_send)
            self._clients[key] = client
        return self._clients[key]

    def _well_formed(self, item: Any, keys: tuple[str, ...]) -> bool:
        """Malformed entries are skipped with a warning and counted; the target they
        were in becomes partial (something there could not be checked)."""
        ok = isinstance(item, dict) and all(item.get(k) for k in keys)
        if not ok:
            self.malformed += 1
            log.warning("aws: skipped a malformed entry (missing %s)", ", ".join(keys))
        return ok

    def _role_records(self, role: Any, source: str):
        """A role's records, or None (counted, warned) when it or its trust policy is
        unreadable: one bad role makes the account partial, not failed."""
        if not self._well_formed(role, ("RoleName", "Arn")):
            return None
        try:
            return transform_role(role, source)
        except (ValueError, TypeError) as exc:
            log.warning("role %s: trust policy unreadable: %s", role.get("RoleName"), exc)
            self.malformed += 1
            return None

    def _close_run(self, run: TargetRun, malformed_before: int) -> None:
        bad = self.malformed - malformed_before
        if bad:
            run.attributes["malformed"] = run.attributes.get("malformed", 0) + bad
            run.partial(f"{bad} malformed entries skipped")

    def _on_send(self, **_: Any) -> None:
        """Every HTTP request that leaves, paged or retried: the honest counter."""
        self.count_call()

    def _call(self, client: Any, op: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with bounded retries for throttling/5xx (honouring Retry-After)
        and connection errors."""
        from botocore.exceptions import (
            ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
            ReadTimeoutError,
        )
        delays = list(backoff_delays(self.ctx.max_retries))
        attempt = 0
        while True:
            try:
                return getattr(client, op)(**kwargs)
            except ClientError as exc:
                meta = exc.response.get("ResponseMetadata") or {}
                status = int(meta.get("HTTPStatusCode") or 0)
                code = _error_code(exc)
                if (code in RETRYABLE_CODES or status == 429 or status >= 500) \
                        and not _not_implemented(exc) and attempt < len(delays):
                    after = (meta.get("HTTPHeaders") or {}).get("retry-after")
                    http.sleep(_retry_after(after, delays[attempt]))
                    attempt += 1
                    continue
                raise
            except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError,
                    ReadTimeoutError):
                if attempt < min(CONNECT_RETRIES, len(delays)):
                    http.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise

    def _pages(self, client: Any, op: str, items: str, token_in: str, token_out: str,
               **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a listing (Marker/NextToken styles), each page a counted call.
        Bounded by ``max_pages``: a listing whose cursors never end fails the target
        (PaginationLimit) instead of hanging the scan or silently cutting the list."""
        token = None
        for _ in bounded_pages(getattr(self.ctx, "max_pages", 10_000), f"{op} listing"):
            args = dict(kwargs)
            if token:
                args[token_in] = token
            page = self._call(client, op, **args)
            yield page
            token = page.get(token_out)
            if not token or (token_out == "Marker" and not page.get("IsTruncated")):
                return

    def _sessions(self) -> Iterator[tuple[str, Any | None, str | None]]:
        """(label, session, error): the configured credentials, then each assumed role."""
        import boto3
        try:
            session = boto3.Session(profile_name=self.config.get("profile") or None,
                                    botocore_session=_botocore_session(self.config.get("credentials_file")))
        except Exception as exc:  # noqa: BLE001 - an unknown profile fails this collector only
            yield (self.config.get("profile") or "default", None, errors.safe_error(exc))
            return
        yield (self.config.get("name") or self.config.get("profile") or "default", session, None)
        for role_arn in self.config.get("assume_roles") or []:
            try:
                sts = self._client(session, "sts")
                creds = self._call(sts, "assume_role", RoleArn=role_arn,
                                   RoleSessionName="residual-scan")["Credentials"]
                yield (role_arn, boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                               aws_secret_access_key=creds["SecretAccessKey"],
                                               aws_session_token=creds["SessionToken"]), None)
            except Exception as exc:  # noqa: BLE001
                yield (role_arn, None, errors.safe_error(exc))

    # -- bulk pass --------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        for label, session, error in self._sessions():
            before = self.calls
            account_id = None
            if session is not None:
                try:
                    ident = self._call(self._client(session, "sts"), "get_caller_identity")
                    account_id = str(ident["Account"])
                except Exception as exc:  # noqa: BLE001
                    error = errors.safe_error(exc)
            if account_id is None:
                self.emit_coverage(sink, label, self.layer, "failed", error=error,
                                   api_calls=self.calls - before)
                continue
            with self.target(sink, account_id) as run:
                run.calls_before = before  # the STS call above belongs to this account
                target = AwsTarget(account_id, session, f"{SYSTEM}:{account_id}")
                self.targets.append(target)
                bad = self.malformed
                if scope is None:
                    self._collect_account(sink, target, run)
                else:
                    self._collect_scoped(sink, target, run, scope)
                self._close_run(run, bad)

    def _collect_account(self, sink: Sink, t: AwsTarget, run: TargetRun) -> None:
        """get (every bulk payload of the account) -> change token -> transform + load,
        or, when the previous complete scan saw the same payloads, copy its records.

        Why the token is a digest of the payloads and not something cheaper: IAM has no
        ETag and no change counter. The credential report's GeneratedTime changes at most
        every 4 hours and says nothing of roles, trust policies, groups or tags; a role's
        RoleLastUsed moves without any write. So an unchanged account still costs its
        ~7 read calls; what reuse saves is the transform and the load (records copied in
        DuckDB, none built in Python). The deep pass still asks per user (its records
        are never copied)."""
        iam = self._client(t.session, "iam")
        snap = AccountRead(report=self._credential_report(iam, run),
                           report_stamp=self._report_stamp)
        snap.details = self._read_details(iam)
        self._read_service_credentials(sink, iam, run, snap)
        for region in self.regions:
            if self.config.get("secrets_manager", True):
                self._read_secrets(sink, t, region, run, snap)
            if self.config.get("eks", True):
                self._read_eks(sink, t, region, run, snap)
        if self.config.get("identity_center"):
            self._read_identity_center(sink, t, run, snap)
        run.attributes["read_s"] = round((datetime.now(UTC) - run.started_at).total_seconds(), 3)
        if run.status == "ok":
            run.attributes["credential_report_generated"] = self._report_stamp.get("generated")
            if self.reuse_if_unchanged(sink, run, snap.token(), [t.source]):
                t.users.update(users_of(snap, t.source))  # what the deep pass needs
                run.attributes["users"] = len(t.users)
                return
        self._load_details(sink, t, snap.details, snap.report)
        self._report_credentials(sink, t, snap.report)
        self._load_service_credentials(sink, t, snap)
        for region, items in snap.secrets.items():
            self._load_secrets(sink, t, region, items)
        for region, clusters in snap.clusters.items():
            self._load_eks(sink, t, region, clusters)
        self._load_identity_center(sink, t, snap)
        run.attributes["users"] = len(t.users)

    # -- targeted verify (verify --live): only what names the identities in scope -------
    def _collect_scoped(self, sink: Sink, t: AwsTarget, run: TargetRun, scope: Scope) -> None:
        """Keep only what is hers or names her, read with the fewest calls that can find
        it (IAM cannot be searched by principal or by tag):

        - users, groups and roles: one ``get_account_authorization_details`` listing
          (1 call per 1,000 principals, as in a full scan; get_user and
          list_groups_for_user per name would cost 2 calls a user and still leave the
          trust policies naming her, which only the role list shows). Kept: her users
          (by ARN and ``aws:`` alias), users and roles whose tags name her (NHIs she
          owns), her groups, roles linked to her before, and the trust grants that name her;
        - the credential report (generate + get: 2 calls whatever the account's size),
          the only source of keys' and passwords' last use; her rows only;
        - service-specific credentials: the account-wide listing (1 call), hers kept;
        - Secrets Manager: ``list_secrets`` filtered by tag value (her e-mails and
          roster ids); EKS: ``describe_access_entry`` for her ARNs only.
        The deep pass then asks, for her users only, what IAM gives per user (key ids,
        SSH keys, certificates, MFA devices, login profile), as in a full scan.
        """
        iam = self._client(t.session, "iam")
        names, arns, role_uids = scoped_principals(scope, t.source, t.account_id)
        tags_of_hers = {v.casefold() for v in scope.emails | scope.identities}
        report = self._credential_report(iam, run)
        self._scoped_details(sink, iam, t, report, names, arns, role_uids, tags_of_hers)
        self._optional(sink, run, "iam:service_specific_credentials",
                       lambda: self._scoped_service_credentials(sink, iam, t))
        for region in self.regions:
            if self.config.get("secrets_manager", True) and tags_of_hers:
                self._scoped_secrets(sink, t, region, run,
                                     sorted({v for v in scope.emails | scope.identities}))
            if self.config.get("eks", True) and arns:
                self._optional(sink, run, f"eks:{region}",
                               lambda region=region: self._scoped_eks(sink, t, region, run, arns))
        if self.config.get("identity_center"):
            self._identity_center(sink, t, run)  # not narrowed: a handful of list calls
        run.attributes["users"] = len(t.users)
        run.attributes["scoped"] = {
            "users": sorted(t.users), "principals": sorted(arns),
            "account_wide": ["credential report (last use)",
                             "authorization details (tags, groups, trust policies)",
                             "service-specific credentials"],
            "not_checked": "customer-managed and resource policies (S3, KMS, SQS) that name her"}

    def _scoped_details(self, sink: Sink, iam: Any, t: AwsTarget,
                        report: dict[str, dict[str, str]] | None, names: set[str], arns: set[str],
                        role_uids: set[str], tags_of_hers: set[str]) -> None:
        folded = {n.casefold() for n in names}

        def tagged_hers(tags: Any) -> bool:
            return any(str(v).casefold() in tags_of_hers for v in _tags(tags).values())

        groups: dict[str, dict[str, Any]] = {}
        for page in self._pages(iam, "get_account_authorization_details", "UserDetailList",
                                "Marker", "Marker", MaxItems=1000, Filter=["User", "Group", "Role"]):
            for group in page.get("GroupDetailList") or []:
                if self._well_formed(group, ("GroupName", "Arn")):
                    groups[group["GroupName"]] = group
            for user in page.get("UserDetailList") or []:
                if not self._well_formed(user, ("UserName", "Arn")):
                    continue
                if not (user["Arn"] in arns or user["UserName"].casefold() in folded
                        or tagged_hers(user.get("Tags"))):
                    continue
                row = (report or {}).get(user["UserName"])
                acc, grants = transform_user(user, t.source, row)
                t.users[user["UserName"]] = IamUser(user["UserName"], user["Arn"], acc.uid, row)
                self._groups_of[user["UserName"]] = list(user.get("GroupList") or [])
                arns.add(user["Arn"])
                sink.emit(acc)
                sink.emit_all(grants)
                if row:
                    sink.emit_all(transform_report_row(row, acc.uid, t.source))
            for role in page.get("RoleDetailList") or []:
                parsed = self._role_records(role, t.source)
                if parsed is None:
                    continue
                acc, res, grants = parsed
                naming = [g for g in grants if names_principal(g.principal, arns, folded)]
                hers = res.uid in role_uids or tagged_hers(role.get("Tags"))
                if not naming and not hers:
                    continue
                if acc and hers:
                    sink.emit(acc)
                sink.emit(res)
                sink.emit_all(grants if hers else naming)
        mine = {g for u in t.users.values() for g in (self._groups_of.get(u.name) or [])}
        sink.emit_all(transform_group(groups[g], t.source) for g in sorted(mine) if g in groups)

    def _scoped_service_credentials(self, sink: Sink, iam: Any, t: AwsTarget) -> None:
        for page in self._pages(iam, "list_service_specific_credentials",
                                "ServiceSpecificCredentials", "Marker", "Marker", AllUsers=True):
            for item in page.get("ServiceSpecificCredentials") or []:
                if self._well_formed(item, ("ServiceSpecificCredentialId",)) and item.get("UserName") in t.users:
                    sink.emit(transform_service_credential(item, t.users, t.source))

    def _scoped_secrets(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun,
                        values: list[str]) -> None:
        """Secrets tagged with her e-mail or roster id (any tag key; the value filter is
        a prefix match, so what comes back is checked again)."""
        def get() -> None:
            sm = self._client(t.session, "secretsmanager", region)
            wanted = {v.casefold() for v in values}
            for page in self._pages(sm, "list_secrets", "SecretList", "NextToken", "NextToken",
                                    MaxResults=100, Filters=[{"Key": "tag-value", "Values": values[:10]}]):
                for s in page.get("SecretList") or []:
                    if self._well_formed(s, ("ARN",)) and any(
                            str(v).casefold() in wanted for v in _tags(s.get("Tags")).values()):
                        sink.emit(transform_secret(s, t.source, region))
        self._optional(sink, run, f"secretsmanager:{region}", get)

    def _scoped_eks(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun,
                    arns: set[str]) -> None:
        eks = self._client(t.session, "eks", region)
        names = [n for page in self._pages(eks, "list_clusters", "clusters", "nextToken",
                                           "nextToken") for n in page.get("clusters") or []]
        for name in names:
            cluster = self._call(eks, "describe_cluster", name=name).get("cluster") or {}
            if not self._well_formed(cluster, ("name", "arn")):
                continue
            res = transform_cluster(cluster, t.source, region)
            sink.emit(res)
            if res.attributes["authentication_mode"] not in ("API", "API_AND_CONFIG_MAP"):
                continue
            for arn in sorted(arns):
                try:
                    entry = self._call(eks, "describe_access_entry", clusterName=name,
                                       principalArn=arn).get("accessEntry") or {}
                except Exception as exc:  # noqa: BLE001
                    if _error_code(exc) in ("ResourceNotFoundException", "404", "NotFoundException"):
                        continue  # no entry for her: what we hoped
                    raise
                if self._well_formed(entry, ("principalArn",)):
                    sink.emit(transform_access_entry(entry, res.uid, t.source))

    def _credential_report(self, iam: Any, run: TargetRun) -> dict[str, dict[str, str]] | None:
        """Generate (or reuse the <4h old) credential report, then read it. IAM builds
        it asynchronously: poll a bounded number of times. Leaves the report's
        GeneratedTime and content digest in ``self._report_stamp`` (change token)."""
        self._report_stamp: dict[str, Any] = {}
        self._call(iam, "generate_credential_report")
        for delay in [0.0, *backoff_delays(self.ctx.max_retries + 2, base=1.0, cap=10.0)]:
            if delay:
                http.sleep(delay)
            try:
                resp = self._call(iam, "get_credential_report")
                content = resp["Content"]
            except Exception as exc:  # noqa: BLE001
                code = _error_code(exc)
                if code in ("ReportInProgress", "ReportNotPresent", "ReportExpired",
                            "ReportNotReady"):
                    if code != "ReportInProgress":
                        self._call(iam, "generate_credential_report")
                    continue
                raise
            generated = _utc(resp.get("GeneratedTime"))
            self._report_stamp = {
                "generated": generated.isoformat() if generated else None,
                "sha256": hashlib.sha256(content if isinstance(content, bytes)
                                         else str(content).encode()).hexdigest()}
            try:
                rows, bad = parse_credential_report(content)
            except (ValueError, csv.Error) as exc:
                run.partial(f"credential report: {exc}")
                return None
            if bad:
                log.warning("credential report: %d malformed rows skipped", bad)
                run.partial(f"credential report: {bad} malformed rows skipped")
                run.attributes["malformed"] = run.attributes.get("malformed", 0) + bad
            return rows
        run.partial("credential report: not ready after polling")
        return None

    def _authorization_details(self, sink: Sink, iam: Any, t: AwsTarget,
                               report: dict[str, dict[str, str]] | None) -> None:
        self._load_details(sink, t, self._read_details(iam), report)

    def _read_details(self, iam: Any) -> list[dict[str, Any]]:
        """get_account_authorization_details, every page (users, groups, roles)."""
        return [{k: page.get(k) for k in DETAIL_LISTS}
                for page in self._pages(iam, "get_account_authorization_details",
                                        "UserDetailList", "Marker", "Marker", MaxItems=1000,
                                        Filter=["User", "Group", "Role"])]

    def _load_details(self, sink: Sink, t: AwsTarget, pages: list[dict[str, Any]],
                      report: dict[str, dict[str, str]] | None) -> None:
        for page in pages:
            for user in page.get("UserDetailList") or []:
                if not self._well_formed(user, ("UserName", "Arn")):
                    continue
                acc, grants = transform_user(user, t.source, (report or {}).get(user["UserName"]))
                t.users[user["UserName"]] = IamUser(user["UserName"], user["Arn"], acc.uid,
                                                   (report or {}).get(user["UserName"]))
                sink.emit(acc)
                sink.emit_all(grants)
            for group in page.get("GroupDetailList") or []:
                if self._well_formed(group, ("GroupName", "Arn")):
                    sink.emit(transform_group(group, t.source))
            for role in page.get("RoleDetailList") or []:
                parsed = self._role_records(role, t.source)
                if parsed is None:
                    continue
                acc, res, grants = parsed
                if acc:
                    sink.emit(acc)
                sink.emit(res)
                sink.emit_all(grants)

    def _report_credentials(self, sink: Sink, t: AwsTarget,
                            report: dict[str, dict[str, str]] | None) -> None:
        for name, row in (report or {}).items():
            user = t.users.get(name)
            holder = user.uid if user else make_uid(t.source, row["arn"])
            sink.emit_all(transform_report_row(row, holder, t.source))

    def _optional(self, sink: Sink, run: TargetRun, what: str, fn: Callable[[], None]) -> None:
        """An optional part: forbidden or not offered -> a "skipped" coverage row with
        the reason; any other error -> the target is partial."""
        before = self.calls
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            code = _error_code(exc)
            if _not_implemented(exc) or code in SKIP_CODES:
                reason = "not implemented by this endpoint" if _not_implemented(exc) else code
                if code and ("denied" in code.lower() or code == "UnauthorizedOperation"):
                    reason += f" (needs {IAM_NEEDS.get(what, what)})"
                self.emit_coverage(sink, f"{run.target}/{what}", self.layer, "skipped",
                                   error=f"{what}: {reason}")
                run.attributes.setdefault("skipped", []).append(what)
            else:
                run.partial(f"{what}: {errors.safe_error(exc)}")
        finally:
            run.attributes.setdefault("calls", {})[what] = \
                run.attributes.get("calls", {}).get(what, 0) + self.calls - before

    def _service_credentials(self, sink: Sink, iam: Any, t: AwsTarget, run: TargetRun) -> None:
        snap = AccountRead()
        self._read_service_credentials(sink, iam, run, snap)
        self._load_service_credentials(sink, t, snap)

    def _read_service_credentials(self, sink: Sink, iam: Any, run: TargetRun,
                                  snap: "AccountRead") -> None:
        def get() -> None:
            snap.service_credentials = items = []
            for page in self._pages(iam, "list_service_specific_credentials",
                                    "ServiceSpecificCredentials", "Marker", "Marker",
                                    AllUsers=True):
                items.extend(page.get("ServiceSpecificCredentials") or [])
        self._optional(sink, run, "iam:service_specific_credentials", get)

    def _load_service_credentials(self, sink: Sink, t: AwsTarget, snap: "AccountRead") -> None:
        for item in snap.service_credentials or []:
            if self._well_formed(item, ("ServiceSpecificCredentialId",)):
                sink.emit(transform_service_credential(item, t.users, t.source))

    def _secrets(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun) -> None:
        snap = AccountRead()
        self._read_secrets(sink, t, region, run, snap)
        self._load_secrets(sink, t, region, snap.secrets.get(region) or [])

    def _read_secrets(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun,
                      snap: "AccountRead") -> None:
        def get() -> None:
            sm = self._client(t.session, "secretsmanager", region)
            snap.secrets[region] = items = []
            for page in self._pages(sm, "list_secrets", "SecretList", "NextToken", "NextToken",
                                    MaxResults=100):
                items.extend(page.get("SecretList") or [])
        self._optional(sink, run, f"secretsmanager:{region}", get)

    def _load_secrets(self, sink: Sink, t: AwsTarget, region: str,
                      items: list[dict[str, Any]]) -> None:
        for s in items:
            if self._well_formed(s, ("ARN",)):
                sink.emit(transform_secret(s, t.source, region))

    def _eks(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun) -> None:
        snap = AccountRead()
        self._read_eks(sink, t, region, run, snap)
        self._load_eks(sink, t, region, snap.clusters.get(region) or [])

    def _read_eks(self, sink: Sink, t: AwsTarget, region: str, run: TargetRun,
                  snap: "AccountRead") -> None:
        """Clusters of a region: [{"cluster": describe_cluster, "entries": [access
        entries] or None (not asked: CONFIG_MAP mode, or skipped)}]."""
        def get() -> None:
            eks = self._client(t.session, "eks", region)
            snap.clusters[region] = clusters = []
            names = [n for page in self._pages(eks, "list_clusters", "clusters", "nextToken",
                                               "nextToken") for n in page.get("clusters") or []]
            for name in names:
                cluster = self._call(eks, "describe_cluster", name=name).get("cluster") or {}
                if not self._well_formed(cluster, ("name", "arn")):
                    continue
                one: dict[str, Any] = {"cluster": cluster, "entries": None}
                clusters.append(one)
                mode = (cluster.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP"
                if mode in ("API", "API_AND_CONFIG_MAP"):
                    self._optional(sink, run, f"eks:{region}:{name}:access_entries",
                                   lambda: self._read_access_entries(eks, name, one))
        self._optional(sink, run, f"eks:{region}", get)

    def _read_access_entries(self, eks: Any, cluster: str, one: dict[str, Any]) -> None:
        one["entries"] = entries = []
        for page in self._pages(eks, "list_access_entries", "accessEntries", "nextToken",
                                "nextToken", clusterName=cluster):
            for principal in page.get("accessEntries") or []:
                entries.append(self._call(eks, "describe_access_entry", clusterName=cluster,
                                          principalArn=principal).get("accessEntry") or {})

    def _load_eks(self, sink: Sink, t: AwsTarget, region: str,
                  clusters: list[dict[str, Any]]) -> None:
        for one in clusters:
            res = transform_cluster(one["cluster"], t.source, region)
            sink.emit(res)
            for entry in one["entries"] or []:
                if self._well_formed(entry, ("principalArn",)):
                    sink.emit(transform_access_entry(entry, res.uid, t.source))

    def _identity_center(self, sink: Sink, t: AwsTarget, run: TargetRun) -> None:
        snap = AccountRead()
        self._read_identity_center(sink, t, run, snap)
        self._load_identity_center(sink, t, snap)

    def _read_identity_center(self, sink: Sink, t: AwsTarget, run: TargetRun,
                              snap: "AccountRead") -> None:
        """[{"instance", "users": [...], "permission_sets": [{"arn", "assignments"}]}]."""
        def get() -> None:
            region, instances = self._identity_center_home(t)
            run.attributes["identity_center_region"] = region
            sso = self._client(t.session, "sso-admin", region)
            store = self._client(t.session, "identitystore", region)
            snap.identity_center = out = []
            for inst in instances:
                store_id, inst_arn = inst["IdentityStoreId"], inst["InstanceArn"]
                one: dict[str, Any] = {"instance": inst, "users": [], "permission_sets": []}
                out.append(one)
                for page in self._pages(store, "list_users", "Users", "NextToken", "NextToken",
                                        IdentityStoreId=store_id):
                    one["users"].extend(page.get("Users") or [])
                for page in self._pages(sso, "list_permission_sets", "PermissionSets",
                                        "NextToken", "NextToken", InstanceArn=inst_arn):
                    for ps_arn in page.get("PermissionSets") or []:
                        ps = {"arn": ps_arn, "assignments": []}
                        one["permission_sets"].append(ps)
                        for apage in self._pages(sso, "list_account_assignments",
                                                 "AccountAssignments", "NextToken", "NextToken",
                                                 InstanceArn=inst_arn, AccountId=t.account_id,
                                                 PermissionSetArn=ps_arn):
                            ps["assignments"].extend(apage.get("AccountAssignments") or [])
        self._optional(sink, run, "identity_center", get)

    def _identity_center_home(self, t: AwsTarget) -> tuple[str, list[dict[str, Any]]]:
        """(home region, its instances): ``identity_center_region``, else the first
        configured region whose ``ListInstances`` is not empty (the instance, its users and
        assignments exist in its home region only: asking ``regions[0]`` misses them)."""
        wanted = self.config.get("identity_center_region")
        instances: list[dict[str, Any]] = []
        for region in [wanted] if wanted else self.regions:
            sso = self._client(t.session, "sso-admin", region)
            instances = [i for p in self._pages(sso, "list_instances", "Instances", "NextToken",
                                                "NextToken") for i in p.get("Instances") or []]
            if instances:
                return region, instances
        return wanted or self.regions[0], instances

    def _load_identity_center(self, sink: Sink, t: AwsTarget, snap: "AccountRead") -> None:
        for one in snap.identity_center or []:
            inst = one["instance"]
            store_id, inst_arn = inst["IdentityStoreId"], inst["InstanceArn"]
            for u in one["users"]:
                if self._well_formed(u, ("UserId",)):
                    sink.emit(transform_sso_user(u, store_id, t.source))
            for p in one["permission_sets"]:
                ps_arn = p["arn"]
                ps = Resource(system=SYSTEM, source=t.source, native_id=ps_arn,
                              kind="role", name=ps_arn.rsplit("/", 1)[-1],
                              attributes={"permission_set": True, "instance": inst_arn})
                sink.emit(ps)
                for a in p["assignments"]:
                    if self._well_formed(a, ("PrincipalId",)):
                        sink.emit(transform_assignment(a, store_id, ps.uid, t.source))

    # -- deep pass --------------------------------------------------------------------
    def deepen(self, sink: Sink, scope: Scope) -> None:
        logins = {str(x).casefold() for x in scope.logins_for(SYSTEM)}
        # long-term IAM user keys only (ASIA... are temporary session keys)
        pending = {i for i in scope.identifiers if AWS_KEY_ID.fullmatch(str(i)) and str(i).startswith("AKIA")}
        for t in self.targets:
            users = [u for u in t.users.values()
                     if u.uid in scope.accounts or u.name.casefold() in logins]
            if not users and not pending:
                continue
            with self.target(sink, t.account_id) as run:
                run.attributes["pass"] = "deep"
                bad = self.malformed
                iam = self._client(t.session, "iam")
                for u in users:
                    pending -= self._deepen_user(sink, iam, t, u, run)
                # key ids found elsewhere and not among the scoped users' keys
                tied = self._tie_key_ids(iam, t, pending, run)
                for name, used in tied.items():
                    if name in t.users:
                        self._deep_keys(sink, iam, t, t.users[name], used)
                    pending -= set(used)
                run.attributes["users"] = len(users)
                run.attributes["key_ids_tied"] = sum(len(v) for v in tied.values())
                self._close_run(run, bad)
            if users and self.config.get("cloudtrail"):
                collect_cloudtrail(self, sink, t, users, {e.casefold() for e in scope.emails})

    def _tie_key_ids(self, iam: Any, t: AwsTarget, key_ids: set[str],
                     run: TargetRun) -> dict[str, dict[str, datetime | None]]:
        """get_access_key_last_used names the user of a key id found elsewhere (IaC, a
        Secret): {user name: {key id: last used}}. A key not in this account is skipped."""
        out: dict[str, dict[str, datetime | None]] = {}
        for kid in sorted(key_ids):
            try:
                resp = self._call(iam, "get_access_key_last_used", AccessKeyId=kid)
            except Exception as exc:  # noqa: BLE001
                if _error_code(exc) in SKIP_CODES:
                    continue
                run.partial(f"get_access_key_last_used {kid}: {errors.safe_error(exc)}")
                continue
            name = resp.get("UserName")
            if name:
                out.setdefault(name, {})[kid] = _utc((resp.get("AccessKeyLastUsed") or {}).get("LastUsedDate"))
        return out

    def _deep_keys(self, sink: Sink, iam: Any, t: AwsTarget, u: IamUser,
                   last_used: dict[str, datetime | None] | None = None) -> set[str]:
        """The user's real access key ids, in their report slots; returns the ids."""
        keys = [k for p in self._pages(iam, "list_access_keys", "AccessKeyMetadata", "Marker",
                                       "Marker", UserName=u.name)
                for k in p.get("AccessKeyMetadata") or [] if self._well_formed(k, ("AccessKeyId",))]
        sink.emit_all(transform_access_keys(u.arn, u.name, u.uid, t.source, keys, u.report, last_used))
        return {k["AccessKeyId"] for k in keys}

    def _deepen_user(self, sink: Sink, iam: Any, t: AwsTarget, u: IamUser,
                     run: TargetRun) -> set[str]:
        """What IAM gives only per user. The credential report says what cannot exist
        (no key slot, no password, no MFA, no certificate), and those calls are skipped.
        Returns the user's access key ids."""
        row = u.report
        key_ids: set[str] = set()
        try:
            if row is None or any(_utc(row.get(f"access_key_{s}_last_rotated")) for s in (1, 2)):
                key_ids = self._deep_keys(sink, iam, t, u)
            for p in self._pages(iam, "list_ssh_public_keys", "SSHPublicKeys", "Marker", "Marker",
                                 UserName=u.name):
                for k in p.get("SSHPublicKeys") or []:
                    if not self._well_formed(k, ("SSHPublicKeyId",)):
                        continue
                    full = self._call(iam, "get_ssh_public_key", UserName=u.name,
                                      SSHPublicKeyId=k["SSHPublicKeyId"], Encoding="SSH")
                    sink.emit(transform_ssh_key(full.get("SSHPublicKey") or k, u.arn, u.uid, t.source))
            if row is None or any(_bool(row.get(f"cert_{s}_active")) for s in (1, 2)):
                certs = [c for p in self._pages(iam, "list_signing_certificates", "Certificates",
                                                "Marker", "Marker", UserName=u.name)
                         for c in p.get("Certificates") or [] if self._well_formed(c, ("CertificateId",))]
                for i, c in enumerate(certs):
                    sink.emit(transform_signing_cert(c, u.arn, u.uid, t.source,
                                                     i + 1 if len(certs) <= 2 else None))
            if row is None or _bool(row.get("mfa_active")):
                for p in self._pages(iam, "list_mfa_devices", "MFADevices", "Marker", "Marker",
                                     UserName=u.name):
                    for d in p.get("MFADevices") or []:
                        if self._well_formed(d, ("SerialNumber",)):
                            sink.emit(transform_mfa_device(d, u.uid, t.source))
            if row is None or _bool(row.get("password_enabled")):
                try:
                    profile = self._call(iam, "get_login_profile", UserName=u.name).get("LoginProfile")
                except Exception as exc:  # noqa: BLE001
                    if _error_code(exc) != "NoSuchEntity":
                        raise
                    profile = None
                cred = transform_login_profile(profile, u.arn, u.name, u.uid, t.source, row)
                if cred:
                    sink.emit(cred)
        except Exception as exc:  # noqa: BLE001 - one user's failure leaves the rest
            if _error_code(exc) != "NoSuchEntity":  # NoSuchEntity: deleted since the bulk pass
                run.partial(f"deep pass {u.name}: {errors.safe_error(exc)}")
        return key_ids


def _retry_after(header: Any, default: float) -> float:
    try:
        return min(60.0, max(0.0, float(header)))
    except (TypeError, ValueError):
        return default



"""AWS session revoker (issue 20): revoke the sessions of the roles a leaver could assume.

Temporary credentials from ``AssumeRole`` cannot be listed or deleted; they live until
they expire (up to 12 hours, 36 with role chaining tricks). What AWS offers is the IAM
console's "Revoke active sessions": an inline role policy ``AWSRevokeOlderSessions`` that
denies everything to credentials issued before a time (``DateLessThan
aws:TokenIssueTime``). This revoker puts that policy, dated at the run's start, on each
role the leaver could assume (trust policy naming her, or seen assumed in CloudTrail).

Idempotent: a role whose ``AWSRevokeOlderSessions`` already denies sessions issued before
the run's start is left alone; otherwise the policy is (re)written, which only moves the
cut-off later. Other sessions of the role issued before the cut-off end too, which is the
console's behaviour as well: say so to the role's owners (the dry run does).

Write credentials: the ``revoke:`` block's ``profile``, ``role_arn`` (assumed with the
default chain) or ``access_key_id``/``secret_access_key``, never the read ``profile``.
Permission: ``iam:GetRolePolicy`` and ``iam:PutRolePolicy`` on the roles
(docs/permissions/aws.md).
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from collectors.revoke import (
    RevokeAction, RevokeContext, RevokeRefused, RevokeResult, provider_answer, register_revoker,
)
from scanner.core.options import Option
from scanner.core.model import Account, Identity
from scanner.core.timeparse import parse_time

POLICY_NAME = "AWSRevokeOlderSessions"


def revoke_policy(at: datetime) -> str:
    """The deny the console writes (a statement list, milliseconds, UTC)."""
    t = at.astimezone(UTC)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}}}]})


def deny_cutoff(document: Any) -> datetime | None:
    """The latest ``aws:TokenIssueTime`` before which a policy denies everything; None
    when it has no such statement. Pure; also what the session rule reads."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document) if document.startswith("%") else document)
        except ValueError:
            return None
    if not isinstance(document, dict):
        return None
    stmts = document.get("Statement")
    stmts = stmts if isinstance(stmts, list) else [stmts]
    best = None
    for st in stmts:
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        actions = st.get("Action")
        if "*" not in (actions if isinstance(actions, list) else [actions]):
            continue
        cond = (st.get("Condition") or {}).get("DateLessThan") or {}
        value = cond.get("aws:TokenIssueTime") if isinstance(cond, dict) else None
        try:
            t = parse_time(value) if isinstance(value, str) else None
        except ValueError:
            t = None
        if t and (best is None or t > best):
            best = t
    return best


@register_revoker
class AwsRevoker:
    system = "aws"
    options = {
        "profile": Option(str),
        "role_arn": Option(str),
        "access_key_id": Option(str),
        "secret_access_key": Option(str, secret=True),
        "account_id": Option(str),  # only roles of this account (default: every role planned)
    }

    def __init__(self, revoke_config: dict[str, Any], context: RevokeContext):
        if not (revoke_config.get("profile") or revoke_config.get("role_arn")
                or revoke_config.get("access_key_id")):
            raise RevokeRefused("aws revoke: give profile, role_arn or access_key_id + "
                                "secret_access_key (the write credentials)")
        self.config = revoke_config
        self.ctx = context
        self._iam: Any = None

    def iam(self) -> Any:
        if self._iam is None:
            import boto3
            from botocore.config import Config
            cfg = self.config
            if cfg.get("access_key_id"):
                session = boto3.Session(aws_access_key_id=cfg["access_key_id"],
                                        aws_secret_access_key=cfg.get("secret_access_key"))
            else:
                session = boto3.Session(profile_name=cfg.get("profile") or None)
            endpoint = self.ctx.read_config.get("endpoint_url") or None
            region = (self.ctx.read_config.get("regions") or ["us-east-1"])[0]
            if cfg.get("role_arn"):
                creds = session.client("sts", region_name=region, endpoint_url=endpoint).assume_role(
                    RoleArn=cfg["role_arn"], RoleSessionName="residual-revoke")["Credentials"]
                session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                        aws_secret_access_key=creds["SecretAccessKey"],
                                        aws_session_token=creds["SessionToken"])
            self._iam = session.client("iam", region_name=region, endpoint_url=endpoint, config=Config(
                connect_timeout=min(5.0, self.ctx.timeout_s), read_timeout=self.ctx.timeout_s,
                retries={"max_attempts": max(1, self.ctx.max_retries), "mode": "standard"}))
        return self._iam

    def plan(self, identity: Identity, accounts: list[Account]) -> list[RevokeAction]:
        out = []
        for acc in accounts:
            via = acc.attributes.get("assumable_via")
            if acc.kind != "role" or not via:
                continue
            arn = acc.native_id
            if self.config.get("account_id") and arn.split(":")[4:5] != [self.config["account_id"]]:
                continue
            name = acc.login or arn.rsplit("/", 1)[-1]
            out.append(RevokeAction(
                "aws", acc.source, identity.id, acc.uid, "revoke_older_sessions", name,
                f"AWS {arn}: put inline policy {POLICY_NAME} denying sessions issued before "
                f"the run's start ({via}; every older session of the role ends)"))
        return out

    def apply(self, action: RevokeAction) -> RevokeResult:
        from botocore.exceptions import BotoCoreError, ClientError

        iam = self.iam()
        try:
            try:
                doc = iam.get_role_policy(RoleName=action.target, PolicyName=POLICY_NAME)["PolicyDocument"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                doc = None
            cutoff = deny_cutoff(doc) if doc is not None else None
            if cutoff is not None and cutoff >= self.ctx.now.replace(microsecond=0):
                return RevokeResult(action, True, 200, f"{POLICY_NAME} already denies sessions "
                                                       f"issued before {cutoff.isoformat()}")
            resp = iam.put_role_policy(RoleName=action.target, PolicyName=POLICY_NAME,
                                       PolicyDocument=revoke_policy(self.ctx.now))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return RevokeResult(action, False, status, provider_answer(f"{err.get('Code')}: {err.get('Message')}"))
        except BotoCoreError as exc:
            return RevokeResult(action, False, None, provider_answer(exc.__class__.__name__))
        status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return RevokeResult(action, True, status,
                            f"{POLICY_NAME} denies sessions issued before {self.ctx.now.isoformat()}")

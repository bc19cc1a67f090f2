"""AWS CloudTrail event history for leavers (issue 20; ``aws[].cloudtrail: true``).

What a snapshot of IAM cannot say: did anyone sign in as her, call APIs with her keys or
assume roles with them after she left? The deep pass asks CloudTrail's ``LookupEvents``
(read-only, 2 calls a second) per leaver in scope, per configured region (IAM, STS and
console sign-in record in ``us-east-1``):

- ``Username`` = her IAM user name (console sign-ins, calls made with her keys,
  ``AssumeRole``), and = each of her e-mails (Identity Center ``GetRoleCredentials``);
- ``AccessKeyId`` = each temporary key an ``AssumeRole`` of hers returned: what the
  assumed-role session did;
- ``ResourceName`` = her IAM user name: what was done to her user, of which only the
  removals are kept (``REMOVAL_EVENTS``: a key deleted or deactivated, the password
  deleted, removed from a group...), category ``removal``, the actor the administrator.

Each event -> Activity (``native_id`` = EventId; category ``session`` for sign-ins and
role assumptions, else ``use``). The rules keep those at or after her termination. The
lookback is ``cloudtrail_days`` (Event history keeps 90). The coverage row has layer
``sessions``; a refusal (AccessDenied) names ``cloudtrail:LookupEvents`` and makes the
check incomplete.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from scanner.core.model import Activity, make_uid
from scanner.core.timeparse import timestamp

# What an administrator did to a leaver's access (``residual evidence``: removed when, by
# whom). Looked up by ResourceName = her IAM user name; from those lookups only these are
# kept: an admin's GetUser about her is not her use.
REMOVAL_EVENTS = {"DeleteAccessKey", "UpdateAccessKey", "DeleteLoginProfile", "DeleteUser",
                  "DeleteSSHPublicKey", "DeleteSigningCertificate", "DeactivateMFADevice",
                  "DeleteServiceSpecificCredential", "RemoveUserFromGroup", "DetachUserPolicy",
                  "DeleteUserPolicy"}
SESSION_EVENTS = {"ConsoleLogin", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity",
                  "GetRoleCredentials", "GetSessionToken", "GetFederationToken", "Federate"}


def transform_event(payload: Any, source: str, account: str | None) -> Activity:
    """One LookupEvents item -> Activity about ``account`` (pure)."""
    if not isinstance(payload, dict) or not payload.get("EventId") or not payload.get("EventName"):
        raise ValueError("CloudTrail event without EventId or EventName")
    try:
        record = json.loads(payload.get("CloudTrailEvent") or "{}")
    except ValueError:
        record = {}
    record = record if isinstance(record, dict) else {}
    req = record.get("requestParameters") if isinstance(record.get("requestParameters"), dict) else {}
    resp = record.get("responseElements") if isinstance(record.get("responseElements"), dict) else {}
    name = str(payload["EventName"])
    attrs: dict[str, Any] = {"event_source": payload.get("EventSource"), "region": record.get("awsRegion"),
                             "access_key_id": payload.get("AccessKeyId"), "ip": record.get("sourceIPAddress"),
                             "read_only": payload.get("ReadOnly") == "true"}
    if name.startswith("AssumeRole") and req.get("roleArn"):
        role = str(req["roleArn"])
        attrs.update({"role_arn": role, "role_uid": make_uid(f"aws:{role.split(':')[4]}", role),
                      "session_name": req.get("roleSessionName"),
                      "assumed_key": ((resp.get("credentials") or {}) if isinstance(resp.get("credentials"), dict)
                                      else {}).get("accessKeyId")})
    if name == "GetRoleCredentials":
        attrs.update({"role_name": req.get("roleName"), "account_id": req.get("accountId")})
    removal = name in REMOVAL_EVENTS and (name != "UpdateAccessKey" or req.get("status") == "Inactive")
    if removal:
        attrs.update({"target_user": req.get("userName"),
                      "removed_key_id": req.get("accessKeyId") if "AccessKey" in name else None})
    failed = record.get("errorCode") or (resp.get("ConsoleLogin") not in (None, "Success"))
    when = payload.get("EventTime")
    return Activity(source=source, native_id=str(payload["EventId"]), system="aws", action=name,
                    category="removal" if removal else "session" if name in SESSION_EVENTS else "use",
                    at=timestamp(when),  # boto3 hands EventTime over as a datetime
                    actor=str(payload.get("Username") or ""), subject_account=account,
                    outcome="failure" if failed else "success", attributes=attrs)


def collect_cloudtrail(collector: Any, sink: Any, target: Any, users: list[Any], emails: set[str],
                       gone: list[str] = ()) -> None:
    """LookupEvents for the leavers of one account (``users``: IamUser), one coverage row.
    ``gone``: leavers' IAM user names that no longer exist in it (asked for removals only)."""
    from botocore.exceptions import ClientError

    days = int(collector.config.get("cloudtrail_days") or 90)
    start = collector.ctx.now - timedelta(days=days)
    endpoint = collector.config.get("cloudtrail_endpoint_url") or collector.config.get("endpoint_url") or None
    with collector.target(sink, f"{target.account_id}/cloudtrail", layer="sessions") as run:
        run.attributes["source"] = target.source
        seen: set[str] = set()
        events = 0
        for region in collector.regions:
            ct = collector.cloudtrail_client(target.session, region, endpoint)
            lookups = [(u.uid, "Username", u.name) for u in users]
            # Identity Center users sign in by e-mail; the rules tie those events by actor
            lookups += [(None, "Username", e) for e in sorted(emails)]
            # what was done to her user: removals only (evidence: removed when, by whom)
            lookups += [(u.uid, "ResourceName", u.name) for u in users]
            lookups += [(make_uid(target.source, f"arn:aws:iam::{target.account_id}:user/{name}"),
                         "ResourceName", name) for name in gone]
            while lookups:
                account, key, value = lookups.pop(0)
                try:
                    pages = list(collector._pages(ct, "lookup_events", "Events", "NextToken", "NextToken",
                                                  LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}],
                                                  StartTime=start, EndTime=collector.ctx.now))
                except ClientError as exc:
                    run.partial(f"lookup_events {key}={value} in {region}: {exc.response.get('Error', {}).get('Code')} "
                                "(needs cloudtrail:LookupEvents)")
                    continue
                for page in pages:
                    for payload in page.get("Events") or []:
                        try:
                            act = transform_event(payload, target.source, account)
                        except ValueError:
                            run.partial("a malformed CloudTrail event was skipped")
                            continue
                        if act.native_id in seen or (key == "ResourceName" and act.category != "removal"):
                            continue
                        seen.add(act.native_id)
                        sink.emit(act)
                        events += 1
                        assumed = act.attributes.get("assumed_key")
                        if assumed and key == "Username":  # what the assumed-role session did
                            lookups.append((account, "AccessKeyId", assumed))
        run.attributes.update({"users": len(users), "users_gone": len(gone), "events": events})

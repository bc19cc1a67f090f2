"""AWS: the steps ``residual plan`` prints to revoke what this source found,
with the aws CLI. residual stays read-only: the plan is text to run.

Each function returns (action, command, note), or None where it has no exact step (the
plan then says what to do in words); ids come from the records the collector stored."""

from __future__ import annotations

from collectors.remediation import Builder, Objects, after_pipe, arn_name, cm, q, tail
from scanner.core.model import Account, Credential, Finding
from scanner.core.secrets import AWS_KEY_ID


def credential_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """The step that revokes credential ``c`` at its issuer."""
    a = c.attributes
    user = (acc.login if acc else "") or a.get("user_name") or arn_name(c.native_id.split("#")[0])
    if c.kind == "access_key":
        kid = a.get("access_key_id") or (c.name if AWS_KEY_ID.fullmatch(c.name or "") else None)
        if kid:
            return ("deactivate, then delete the access key",
                    f"aws iam update-access-key --user-name {q(user)} --access-key-id {q(kid)} --status Inactive\n"
                    f"aws iam delete-access-key --user-name {q(user)} --access-key-id {q(kid)}",
                    "deactivating first lets you re-enable it if something breaks")
        # the credential report names keys by slot, not id: find this one by its creation time
        created = c.created_at or c.rotated_at
        find = (f"kid=$(aws iam list-access-keys --user-name {q(user)} --query "
                f"\"AccessKeyMetadata[?starts_with(CreateDate, '{created:%Y-%m-%dT%H:%M}')].AccessKeyId\" --output text)"
                if created else
                f"aws iam list-access-keys --user-name {q(user)}  # then: kid=<the id of access key {cm(a.get('slot', ''))}>")
        return ("deactivate, then delete the access key (found by its creation time: the report has no key id)",
                f"{find}\naws iam update-access-key --user-name {q(user)} --access-key-id \"$kid\" --status Inactive\n"
                f"aws iam delete-access-key --user-name {q(user)} --access-key-id \"$kid\"",
                "deactivating first lets you re-enable it if something breaks")
    if c.kind == "password":
        return ("delete the console password", f"aws iam delete-login-profile --user-name {q(user)}", "")
    if c.kind == "ssh_key":
        kid = a.get("ssh_public_key_id") or tail(c.native_id, "/")
        return ("delete the CodeCommit SSH key",
                f"aws iam delete-ssh-public-key --user-name {q(user)} --ssh-public-key-id {q(kid)}", "")
    if c.kind == "signing_cert":
        cid = a.get("certificate_id") or c.name
        return ("delete the signing certificate",
                f"aws iam delete-signing-certificate --user-name {q(user)} --certificate-id {q(cid)}", "")
    if c.kind == "service_credential":
        return ("delete the service-specific credential",
                f"aws iam delete-service-specific-credential --user-name {q(user)} "
                f"--service-specific-credential-id {q(c.native_id)}", "")
    if c.kind == "mfa_device":
        return ("deactivate and delete the MFA device",
                f"aws iam deactivate-mfa-device --user-name {q(user)} --serial-number {q(c.native_id)}\n"
                f"aws iam delete-virtual-mfa-device --serial-number {q(c.native_id)}", "")
    return None


def account_step(acc: Account, suspended: bool = False) -> tuple[str, str, str] | None:
    """The step that disables or removes account ``acc``."""
    a = acc.attributes
    if acc.kind == "role":
        return ("delete the role (or retag its owner)",
                f"aws iam delete-role --role-name {q(acc.login)}",
                "detach its policies and remove it from instance profiles first")
    if a.get("identity_center"):
        store = a.get("identity_store", "STORE_ID")
        return ("delete the Identity Center user",
                f"aws identitystore delete-user --identity-store-id {q(store)} --user-id {q(arn_name(acc.native_id))}", "")
    return ("delete the IAM user (after its keys, password, groups and policies)",
            f"aws iam delete-user --user-name {q(acc.login)}",
            "aws iam delete-user fails while keys, a login profile, groups or policies remain: phases 2-3 remove them")


def _trust(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    role = f.object_name or arn_name(f.object_id)
    principal = f.evidence.get("principal", "the principal")
    return (3, "remove the principal from the role's trust policy",
            f"aws iam get-role --role-name {q(role)} --query Role.AssumeRolePolicyDocument > trust.json\n"
            f"# edit trust.json: drop {cm(principal)}\n"
            f"aws iam update-assume-role-policy --role-name {q(role)} --policy-document file://trust.json", "")


def _secret_store(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    region = f.evidence.get("region")
    r = f" --region {q(region)}" if region else ""
    if f.evidence.get("rotation_enabled"):
        cmd = f"aws secretsmanager rotate-secret --secret-id {q(f.object_id)}{r}"
    else:
        cmd = (f"# change the value at its issuer (the database, the API), then:\n"
               f"aws secretsmanager put-secret-value --secret-id {q(f.object_id)}{r} --secret-string \"$NEW_VALUE\"")
    cmd += f"\naws secretsmanager tag-resource --secret-id {q(f.object_id)}{r} --tags Key=owner,Value=NEW_OWNER"
    return (1, "rotate the secret the leaver owned and give it a new owner", cmd, "")


def _eks_entry(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    cluster = arn_name(str(f.evidence.get("cluster") or f.object_name.split(":", 1)[0]))
    return (3, "delete the EKS access entry",
            f"aws eks delete-access-entry --cluster-name {q(cluster)} --principal-arn {q(f.evidence.get('principal') or f.object_id)}", "")


def _sso_assignment(f: Finding, objs: Objects) -> tuple[int, str, str, str]:
    user_native, _, ps_uid = f.object_id.partition("->")
    ps = objs.resources.get(ps_uid)
    instance = (ps.attributes.get("instance") if ps else None) or "INSTANCE_ARN"
    account_id = ps_uid.split("|", 1)[0].split(":", 1)[-1] if "|" in ps_uid else "ACCOUNT_ID"
    return (3, "delete the Identity Center account assignment",
            f"aws sso-admin delete-account-assignment --instance-arn {q(instance)} --target-id {q(account_id)} "
            f"--target-type AWS_ACCOUNT --permission-set-arn {q(f.evidence.get('permission_set') or after_pipe(ps_uid))} "
            f"--principal-type USER --principal-id {q(arn_name(user_native))}", "")


def owner_step(acc: Account, f: Finding) -> tuple[str, str, str] | None:
    """Ownership of an IAM role or user is its ``owner`` tag."""
    if acc.kind == "role":
        return ("tag the role with its new owner",
                f"aws iam tag-role --role-name {q(acc.login)} --tags Key=owner,Value=NEW_OWNER", "")
    return ("tag the IAM user with its new owner",
            f"aws iam tag-user --user-name {q(acc.login)} --tags Key=owner,Value=NEW_OWNER", "")


def rotate_step(c: Credential, acc: Account | None) -> tuple[str, str, str] | None:
    """An access key is rotated by creating the new one before deleting the old one."""
    if c.system != "aws" or c.kind != "access_key":
        return None
    user = acc.login if acc else arn_name(c.native_id.split("#")[0])
    _, revoke, _ = credential_step(c, acc) or ("", "", "")
    find, _, revoke = revoke.partition("\n") if revoke.startswith(("kid=", "aws iam list-access-keys")) \
        else ("", "", revoke)
    return ("rotate the access key: create a new one, deploy it, then delete the old one",
            (f"{find}\n" if find else "") + f"aws iam create-access-key --user-name {q(user)}\n"
            f"# deploy the new key where the old one is used, then:\n{revoke}", "")


def session_note(f: Finding, user: str) -> str | None:
    """A role's sessions end with a deny on tokens issued before now (what the console's
    "Revoke active sessions" writes)."""
    if f.rule != "session.assumed_role_not_revoked":
        return None
    return (f"or: aws iam put-role-policy --role-name {q(f.object_name)} --policy-name "
            "AWSRevokeOlderSessions --policy-document file://deny-before-now.json")


# rule id -> the step(s) for its findings (scanner/plan.py reads these)
RULE_STEPS: dict[str, Builder] = {
    "grant.trust_names_leaver": _trust,
    "aws.secret_owner_left": _secret_store,
    "aws.eks_access_entry_leaver": _eks_entry,
    "aws.identity_center_assignment_leaver": _sso_assignment,
}

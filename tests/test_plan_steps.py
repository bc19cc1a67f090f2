"""Revocation steps for the rules the demo estate does not trigger (the demo-wide check is
in tests/test_live_verify.py): each finding as its rule emits it, the exact command with
the ids from the stored records, and no guessed placeholder."""

from __future__ import annotations


from scanner.core.model import Account, Credential, Finding, Resource
from scanner.plan import Objects, steps_for

SRC = "aws:123456789012"


def finding(rule: str, **kw) -> Finding:
    return Finding(rule=rule, severity=kw.pop("severity", "high"), title=rule,
                   layer=kw.pop("layer", "cloud"), **kw)


def test_eks_access_entry_and_identity_center_assignment():
    f = finding("aws.eks_access_entry_leaver", system="aws", object_kind="eks_access_entry",
                object_id="arn:aws:iam::123456789012:user/alice",
                evidence={"principal": "arn:aws:iam::123456789012:user/alice",
                          "cluster": "arn:aws:eks:us-east-1:123456789012:cluster/prod"})
    st = steps_for(f, Objects())[0]
    assert st.phase == 3 and st.command == ("aws eks delete-access-entry --cluster-name prod "
                                            "--principal-arn arn:aws:iam::123456789012:user/alice")
    ps = Resource("aws", SRC, "arn:aws:sso:::permissionSet/ssoins-1/ps-abc", "role", "Admin",
                  attributes={"permission_set": True, "instance": "arn:aws:sso:::instance/ssoins-1"})
    objs = Objects()
    objs.add(ps)
    f = finding("aws.identity_center_assignment_leaver", system="aws", object_kind="account_assignment",
                object_id=f"identitystore:d-1:user/9067-u1->{ps.uid}",
                evidence={"permission_set": ps.native_id, "target": "123456789012"})
    cmd = steps_for(f, objs)[0].command
    assert cmd == ("aws sso-admin delete-account-assignment --instance-arn arn:aws:sso:::instance/ssoins-1 "
                   "--target-id 123456789012 --target-type AWS_ACCOUNT --permission-set-arn "
                   "arn:aws:sso:::permissionSet/ssoins-1/ps-abc --principal-type USER --principal-id 9067-u1")


def test_exposures_rotate_at_the_issuer_first():
    key = Credential("aws", SRC, "arn:aws:iam::123456789012:user/alice#access_key_1", "access_key",
                     holder=f"{SRC}|arn:aws:iam::123456789012:user/alice", name="AKIAFAKEFAKEFAKE0001",
                     attributes={"access_key_id": "AKIAFAKEFAKEFAKE0001"})
    acc = Account("aws", SRC, "arn:aws:iam::123456789012:user/alice", "alice")
    objs = Objects()
    objs.add(key)
    objs.add(acc)
    hist = finding("exposure.history_live", system="iac:infra", layer="iac", object_kind="secret",
                   object_id="app.env:3", location_path="app.env", location_line=3,
                   evidence={"credential": key.uid, "commit": "abc123", "hint": "AKIA…0001"})
    serve, revoke = steps_for(hist, objs)  # dependants get a replacement before the revocation
    assert serve.phase == 1 and "git filter-repo" in serve.command and "delete-access-key" not in serve.command
    assert revoke.phase == 2
    assert "aws iam delete-access-key --user-name alice --access-key-id AKIAFAKEFAKEFAKE0001" in revoke.command
    tf = finding("exposure.tfstate", system="iac:infra", layer="iac", object_kind="secret",
                 object_id="terraform.tfstate:0", location_path="terraform.tfstate",
                 evidence={"detector": "Terraform state", "hint": "…abcd"})
    assert "encrypted remote backend" in steps_for(tf, Objects())[0].command
    unknown = finding("exposure.history_unverified", system="iac:infra", layer="iac", object_kind="secret",
                      object_id="x.py:1", location_path="x.py", location_line=1,
                      evidence={"detector": "Slack Token", "hint": "…wxyz", "commit": "def456"})
    assert steps_for(unknown, Objects())[0].command.startswith("# rotate the Slack Token …wxyz at its issuer")


def test_gitlab_deactivated_account_is_blocked_by_numeric_id():
    acc = Account("gitlab", "gitlab:gl.example.com", "aarcher", "aarcher", status="disabled",
                  attributes={"user_id": 2, "state": "deactivated"})
    objs = Objects()
    objs.add(acc)
    f = finding("gitlab.deactivated_account_of_leaver", system="gitlab", layer="code-hosting",
                object_kind="user", object_id="aarcher", subject=acc.node, severity="medium")
    st = steps_for(f, objs)[0]
    assert st.phase == 4 and st.command.endswith('-X POST "$GITLAB_URL/api/v4/users/2/block"')


def test_kubernetes_binding_and_eks_mapping():
    f = finding("kubernetes.binding_names_leaver", system="kubernetes", layer="kubernetes",
                object_kind="role_binding", object_id="RoleBinding apps/alice-edit",
                evidence={"binding": "RoleBinding apps/alice-edit", "subject": "User:alice@example.com"})
    st = steps_for(f, Objects())[0]
    assert st.command.startswith("kubectl -n apps edit rolebinding alice-edit")
    assert "User alice@example.com" in st.command and "kubectl -n apps delete rolebinding alice-edit" in st.note
    f = finding("kubernetes.mapping_names_leaver", system="kubernetes", layer="kubernetes",
                object_kind="iam_mapping", object_id="arn:aws:iam::1:user/alice",
                evidence={"principal": "arn:aws:iam::1:user/alice", "where": "EKS access entry",
                          "cluster": "prod"})
    assert steps_for(f, Objects())[0].command == ("aws eks delete-access-entry --cluster-name prod "
                                              "--principal-arn arn:aws:iam::1:user/alice")


def test_an_unknown_rule_gets_an_honest_manual_step():
    f = finding("vendor.something_new", system="aws", object_kind="widget", object_id="w-1",
                remediation="Remove the widget.")
    st = steps_for(f, Objects())[0]
    assert st.command.startswith("#") and "Remove the widget." in st.command
    assert "no exact step" in st.note


def test_aws_keys_known_only_by_slot_are_found_by_creation_time():
    from datetime import UTC, datetime

    from scanner.plan import dedupe

    acc = Account("aws", SRC, "arn:aws:iam::123456789012:user/bob", "bob")
    objs = Objects()
    objs.add(acc)
    steps = []
    for slot, day in ((1, 3), (2, 9)):
        key = Credential("aws", SRC, f"{acc.native_id}#access_key_{slot}", "access_key", holder=acc.uid,
                         name=f"bob access key {slot}", created_at=datetime(2026, 5, day, 9, 30, tzinfo=UTC),
                         attributes={"slot": slot})
        objs.add(key)
        steps += steps_for(finding("credential.unused", system="aws", object_kind="access_key",
                                   object_id=key.native_id, subject=key.node, severity="medium"), objs)
    kept = dedupe(steps)
    assert len(kept) == 2  # same delete line, different keys: both kept
    first = kept[0].command.splitlines()
    assert first[0] == ("kid=$(aws iam list-access-keys --user-name bob --query "
                        "\"AccessKeyMetadata[?starts_with(CreateDate, '2026-05-03T09:30')].AccessKeyId\" --output text)")
    assert first[-1] == 'aws iam delete-access-key --user-name bob --access-key-id "$kid"'
    # rotation of an active holder's key: the old key is found before the new one is created
    rot = steps_for(finding("credential.unrotated", system="aws", object_kind="access_key",
                           object_id=f"{acc.native_id}#access_key_1",
                           subject=f"credential:{SRC}|{acc.native_id}#access_key_1", severity="low"), objs)[0]
    lines = rot.command.splitlines()
    assert lines[0].startswith("kid=$(") and lines[1] == "aws iam create-access-key --user-name bob"
    assert dedupe(steps + steps) == kept


def test_every_rule_in_the_catalog_has_a_revocation_step():
    from rules.base import all_rules
    from scanner.plan import STEP_BUILDERS, source_rule_steps

    missing = sorted(set(all_rules()) - set(STEP_BUILDERS) - set(source_rule_steps()))
    assert not missing, (f"rules without a step in scanner/plan.py STEP_BUILDERS or a source's "
                         f"collectors/<name>/remediation.py RULE_STEPS: {missing}")

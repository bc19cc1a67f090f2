"""AWS: IAM users, access keys, roles and their trust, across accounts (boto3)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"aws": "cloud"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/aws.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Activity": (
        "access_key_id", "account_id", "assumed_key", "event_source", "ip", "read_only", "region",
        "removed_key_id", "role_arn", "role_name", "role_uid", "session_name", "target_user",
    ),
    "Account": (
        "attached_policies", "display_name", "groups", "identity_center", "identity_store",
        "inline_policies", "linked_emails", "mfa_active", "password_enabled", "path",
        "role_id", "tags", "user_id",
    ),
    "Coverage": (
        "events", "source", "users_gone",
    ),
    "Credential": (
        "access_key_id", "certificate_id", "deep", "last_used_region", "last_used_service",
        "md5_fingerprint", "mfa_active", "never_expires", "note", "password_reset_required",
        "slot", "ssh_public_key_id", "user_name",
    ),
    "Grant": (
        "access_entry_arn", "conditions", "created_at", "groups", "mapping",
        "principal_type", "type", "username",
    ),
    "Resource": (
        "attached_policies", "authentication_mode", "created_at", "endpoint", "group_id",
        "inline_policies", "instance", "last_accessed_at", "last_changed_at",
        "last_rotated_at", "last_used_at", "owning_service", "path", "permission_set",
        "region", "revoked_sessions_before", "role_id", "rotation_enabled",
        "service_linked", "tags", "version",
    ),
}

"""Collector ``gcp`` (IAM, Resource Manager, Cloud Asset, Logging). See collector.py for
what it reads and why; docs/permissions/gcp.md for the roles."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"gcp": "cloud"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/gcp.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "display_name", "project", "system_managed", "tags", "unique_id",
    ),
    "Coverage": (
        "filter", "key_creators_known", "keys_from", "leavers", "members", "policies",
        "service_accounts", "source_api", "user_managed_keys", "keys_used",
    ),
    "Credential": (
        "created_by", "created_by_event", "created_by_known", "disable_reason", "disabled",
        "key_algorithm", "key_id", "key_origin", "key_type", "last_used_unknown",
        "never_expires", "project", "service_account", "valid_after", "valid_before", "usage_from",
    ),
    "Grant": (
        "condition", "deleted", "email", "etag", "member", "member_type", "resource_kind",
        "resource_name",
    ),
    "Resource": (
        "account", "display_name", "parent", "project_number", "resource_name", "state",
    ),
}

"""Microsoft Entra ID: the ``entra`` collector (Graph v1.0, collector.py), its roster
source (roster.py) and its session revoker (revoke.py), found by the registry; the
permissions each part needs are in docs/permissions/entra.md."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"entra": "directory"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/entra.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "account_enabled", "app_id", "app_owner_org", "dedicated_rules", "display_name",
        "employee_leave_at", "foreign", "linked_emails", "object_type",
        "on_premises_immutable_id", "on_premises_sam", "owners", "owners_truncated",
        "sessions_valid_from", "sign_in_audience", "sp_type", "tags", "user_type",
    ),
    "Activity": (
        "app", "app_id", "category", "client_app", "consent_type", "error_code", "failure",
        "interactive", "ip", "key_ids", "resource", "targets",
    ),
    "Coverage": (
        "applications", "batched_requests", "leavers", "page_size", "servicePrincipals",
        "throttle_waits",
    ),
    "Credential": (
        "app", "client_id", "consent_type", "dedicated_rules", "device_id",
        "device_object_id", "grant_id", "key_id", "last_used_unknown", "lifetime_days",
        "never_expires", "object_type", "os", "principal_id", "relations", "resource",
        "resource_id", "trust_type", "type", "usage",
    ),
    "Grant": (
        "assigned_at", "assignment_id", "principal_id", "resource_id", "resource_name",
    ),
    "Identity": (
        "entra_id",
    ),
}

"""Collector ``google_workspace`` (Admin SDK Directory and Reports), also a roster source.
See collector.py for what it reads and why; docs/permissions/google_workspace.md for the
scopes and admin privileges."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"google_workspace": "directory"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/google_workspace.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "aliases", "archived", "customer_id", "display_name", "is_admin",
        "is_delegated_admin", "linked_emails", "never_signed_in", "org_unit", "suspended",
        "suspension_reason", "two_step",
    ),
    "Activity": (
        "app_name", "application", "client_id", "event_id", "ip", "login_type", "scopes",
    ),
    "Coverage": (
        "missing_scopes", "page_size", "tokens",
    ),
    "Credential": (
        "annotated_user", "anonymous", "client_id", "code_id", "deep", "device",
        "device_id", "device_status", "last_used_unknown", "native_app", "resource_id",
        "serial", "type", "user", "user_key",
    ),
    "Identity": (
        "google_status", "google_user_id",
    ),
}

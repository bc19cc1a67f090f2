"""Okta: users, app assignments, API tokens; also a roster source (``okta`` in ``roster:``)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"okta": "directory"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/okta.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "display_name", "linked_emails", "okta_status", "status_changed",
    ),
    "Activity": (
        "app", "client_id", "ip", "session_id",
    ),
    "Coverage": (
        "filter", "page_size",
    ),
    "Credential": (
        "client_id", "client_name", "creator_status", "deep", "device_id", "factor_type",
        "grant_id", "issuer", "last_updated", "last_used_derived", "network", "platform",
        "provider", "registered", "scope_id", "token_id", "token_window",
        "valid_while_creator_active",
    ),
    "Grant": (
        "app", "app_user_status", "app_username", "assigned_at", "scope",
    ),
    "Identity": (
        "okta_id", "okta_status",
    ),
    "Resource": (
        "app_name", "sign_on_mode", "status",
    ),
}

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
    "Credential": (
        "client_name", "creator_status", "deep", "factor_type", "last_used_derived",
        "network", "provider", "token_window", "valid_while_creator_active",
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

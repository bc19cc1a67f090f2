"""Anthropic Admin API: API keys (with ``created_by``), users, workspace members."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"anthropic": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/anthropic.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "display_name", "role",
    ),
    "Credential": (
        "anthropic_status", "created_by", "last_used_from", "usage_window_days",
        "workspace_id",
    ),
    "Grant": (
        "workspace",
    ),
    "Resource": (
        "archived_at",
    ),
}

"""OpenAI organization Admin API: users, admin keys, project keys, service accounts."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"openai": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/openai.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "display_name", "project", "project_id", "role", "tags",
    ),
    "Credential": (
        "admin", "never_expires", "owner_name", "owner_project_access", "owner_role",
        "owner_type", "project", "project_id",
    ),
    "Resource": (
        "archived_at", "status",
    ),
}

"""Atlassian Cloud admin API: organization users and their API tokens."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"atlassian": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/atlassian.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "account_status", "account_type", "billable", "display_name",
    ),
    "Credential": (
        "atlassian_status", "user_email",
    ),
}

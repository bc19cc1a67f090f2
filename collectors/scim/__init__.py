"""SCIM 2.0: users and groups of any SCIM service provider; also a roster source."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"scim": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/scim.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "department", "display_name", "employee_number", "external_id", "last_modified",
        "linked_emails", "manager", "roles", "scim_active",
    ),
    "Coverage": (
        "filter", "members", "page_size",
    ),
    "Identity": (
        "department", "employee_number", "manager",
    ),
    "Resource": (
        "url",
    ),
}

"""Azure Resource Manager: the ``azure`` collector (collector.py: role assignments and PIM
eligibility per subscription), found by the registry; it signs in like the entra
collector (collectors/entra/auth.py); docs/permissions/azure.md lists what it needs."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"azure": "cloud"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/azure.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Coverage": (
        "pim_eligible", "role_assignments", "subscriptions",
    ),
    "Grant": (
        "assignment_id", "created_by", "created_on", "end", "end_at", "name",
        "principal_type", "role_definition_id", "schedule_id", "scope", "start",
    ),
    "Resource": (
        "state", "tenant_id",
    ),
}

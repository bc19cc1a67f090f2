"""Infrastructure as code: secrets and identity references in files and git history."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"iac": "iac"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/iac.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Exposure": (
        "file_kind", "key", "mcp_server", "tfstate",
    ),
    "Reference": (
        "file_kind", "kind", "recreates", "resource_name", "resource_type", "system",
    ),
    "Resource": (
        "command", "commit", "config", "env_keys", "header_keys", "line", "location",
        "transport", "url",
    ),
}

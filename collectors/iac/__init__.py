"""Infrastructure as code: secrets and identity references in files and git history."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"iac": "iac"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/iac.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Coverage": (
        "analysed", "archived", "bytes", "cached", "clone", "files", "foreign_clone_urls",
        "noise_filtered", "parse_error_files", "parse_errors",
    ),
    "Exposure": (
        "file_kind", "key", "mcp_server", "tfstate", "tree",
    ),
    "Reference": (
        "file_kind", "kind", "recreates", "resource_name", "resource_type", "system",
        "tree",
    ),
    "Resource": (
        "command", "commit", "config", "env_keys", "header_keys", "line", "location",
        "transport", "tree", "url",
    ),
}

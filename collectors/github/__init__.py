"""GitHub: org members, outside collaborators, deploy keys, apps and PATs (REST + GraphQL)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"github": "code-hosting"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/github.md"

"""Atlassian Cloud admin API: organization users and their API tokens."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"atlassian": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/atlassian.md"

"""Anthropic Admin API: API keys (with ``created_by``), users, workspace members."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"anthropic": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/anthropic.md"

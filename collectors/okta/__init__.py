"""Okta: users, app assignments, API tokens; also a roster source (``okta`` in ``roster:``)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"okta": "directory"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/okta.md"

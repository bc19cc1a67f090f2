"""SCIM 2.0: users and groups of any SCIM service provider; also a roster source."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"scim": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/scim.md"

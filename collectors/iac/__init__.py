"""Infrastructure as code: secrets and identity references in files and git history."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"iac": "iac"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/iac.md"

"""GitLab: members, access tokens, deploy keys and CI variables (python-gitlab)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"gitlab": "code-hosting"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/gitlab.md"

"""OpenAI organization Admin API: users, admin keys, project keys, service accounts."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"openai": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/openai.md"

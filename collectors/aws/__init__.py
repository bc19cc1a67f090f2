"""AWS: IAM users, access keys, roles and their trust, across accounts (boto3)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"aws": "cloud"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/aws.md"

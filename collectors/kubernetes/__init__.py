"""Kubernetes: service accounts, RBAC bindings, token secrets, and kubeconfig files."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"kubernetes": "kubernetes"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/kubernetes.md"

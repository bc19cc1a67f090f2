"""Kubernetes: service accounts, RBAC bindings, token secrets, and kubeconfig files."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"kubernetes": "kubernetes"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/kubernetes.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "annotations", "automount_token", "dangling", "namespace", "system_managed",
        "token_secrets", "uid",
    ),
    "Coverage": (
        "page_size",
    ),
    "Credential": (
        "cn", "csr", "groups", "invalid_since", "last_used_label", "legacy", "namespace",
        "never_expires", "requestor", "revocable", "serial", "service_account", "signer",
        "token_missing",
    ),
    "Exposure": (
        "key", "kind", "name", "namespace", "registry", "type",
    ),
    "Grant": (
        "binding", "binding_kind", "configmap", "created_at", "field", "groups",
        "namespace", "role_kind", "subject_kind", "username",
    ),
    "Resource": (
        "created_at", "phase", "server", "terminating",
    ),
}

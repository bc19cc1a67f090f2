"""HashiCorp Vault: tokens, identity entities, AppRole secret IDs, leases and the KV
secrets a leaver's policies could read (layer ``secrets``). See collector.py."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"vault": "secrets"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/vault.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "aliases", "disabled", "entity_id", "entity_name", "group_ids", "linked_emails",
        "namespace", "policies", "tags",
    ),
    "Coverage": (
        "kv_secrets", "leases", "policies", "token_accessors", "tokens", "tokens_looked_up",
    ),
    "Credential": (
        "accessor", "cidr_list", "created_by", "entity_id", "explicit_max_ttl",
        "issuable_by_policies", "lease_id", "meta", "metadata", "mount", "namespace",
        "never_expires", "num_uses", "orphan", "path", "prefix", "renewable", "role",
        "role_path", "root", "ttl",
    ),
    "Grant": (
        "capabilities", "namespace", "policy",
    ),
    "Resource": (
        "created_time", "current_version", "custom_metadata", "mount", "namespace", "path",
        "rules",
    ),
}

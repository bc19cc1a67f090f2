"""HashiCorp Vault: tokens, identity entities, AppRole secret IDs, leases and the KV
secrets a leaver's policies could read (layer ``secrets``). See collector.py."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"vault": "secrets"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/vault.md"

"""HashiCorp Vault: tokens, identity entities, AppRole secret IDs, leases and the KV
secrets a leaver's policies could read (layer ``secrets``). See collector.py."""

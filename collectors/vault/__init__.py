"""HashiCorp Vault: tokens, identity entities, AppRole secret IDs, leases and the KV
secrets a leaver's policies could read (layer ``secrets``). See collector.py."""

from collectors.vault.collector import LAYER, SYSTEM, VaultCollector

__all__ = ["LAYER", "SYSTEM", "VaultCollector"]

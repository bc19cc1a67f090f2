"""HashiCorp Vault: tokens, identity entities, AppRole secret IDs, leases and the KV
secrets a leaver's policies could read (layer ``secrets``). See collector.py."""

from collectors.vault.collector import LAYER, SYSTEM, VaultCollector

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {SYSTEM: LAYER}

__all__ = ["LAYER", "SYSTEM", "SYSTEMS", "VaultCollector"]

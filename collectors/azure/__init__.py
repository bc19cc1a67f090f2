"""Azure Resource Manager: the ``azure`` collector (role assignments and PIM eligibility
per subscription). Signs in like the entra collector (collectors/entra/auth.py);
docs/permissions/azure.md lists what it needs."""

from collectors.azure.collector import AzureCollector

__all__ = ["AzureCollector"]

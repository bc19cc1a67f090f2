"""Azure Resource Manager: the ``azure`` collector (collector.py: role assignments and PIM
eligibility per subscription), found by the registry; it signs in like the entra
collector (collectors/entra/auth.py); docs/permissions/azure.md lists what it needs."""

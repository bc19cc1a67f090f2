"""Microsoft Entra ID: the ``entra`` collector (Graph v1.0, collector.py), its roster
source (roster.py) and its session revoker (revoke.py); docs/permissions/entra.md lists
the permissions each part needs."""

from collectors.entra.collector import EntraCollector

__all__ = ["EntraCollector"]

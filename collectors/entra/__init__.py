"""Microsoft Entra ID: the ``entra`` collector (Graph v1.0), its roster source and its
session revoker. See collector.py for what it reads, docs/permissions/entra.md for the
permissions each part needs."""

from collectors.entra.collector import EntraCollector
from collectors.entra import roster as _roster  # noqa: F401 - registers the "entra" roster source

__all__ = ["EntraCollector"]

"""Microsoft Entra ID: the ``entra`` collector (Graph v1.0, collector.py), its roster
source (roster.py) and its session revoker (revoke.py), found by the registry; the
permissions each part needs are in docs/permissions/entra.md."""

"""Collector ``gcp`` (IAM, Resource Manager, Cloud Asset, Logging). See collector.py for
what it reads and why; docs/permissions/gcp.md for the roles."""

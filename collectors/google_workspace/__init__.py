"""Collector ``google_workspace`` (Admin SDK Directory and Reports), also a roster source.
See collector.py for what it reads and why; docs/permissions/google_workspace.md for the
scopes and admin privileges."""

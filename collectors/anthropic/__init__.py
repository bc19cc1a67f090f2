"""Anthropic Admin API: API keys (with ``created_by``), users, workspace members."""

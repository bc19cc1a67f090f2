"""Anthropic Admin API: API keys (with ``created_by``), users, workspace members."""

from collectors.anthropic.collector import LAYER, SYSTEM, AnthropicCollector

__all__ = ["LAYER", "SYSTEM", "AnthropicCollector"]

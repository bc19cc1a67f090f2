"""Anthropic Admin API: API keys (with ``created_by``), users, workspace members."""

from collectors.anthropic.collector import LAYER, SYSTEM, AnthropicCollector

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {SYSTEM: LAYER}

__all__ = ["LAYER", "SYSTEM", "SYSTEMS", "AnthropicCollector"]

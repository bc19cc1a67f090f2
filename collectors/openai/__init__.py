"""OpenAI organization Admin API: users, admin keys, project keys, service accounts."""

from collectors.openai.collector import LAYER, SYSTEM, OpenAICollector

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {SYSTEM: LAYER}

__all__ = ["LAYER", "SYSTEM", "SYSTEMS", "OpenAICollector"]

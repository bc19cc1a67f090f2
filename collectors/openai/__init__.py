"""OpenAI organization Admin API: users, admin keys, project keys, service accounts."""

from collectors.openai.collector import LAYER, SYSTEM, OpenAICollector

__all__ = ["LAYER", "SYSTEM", "OpenAICollector"]

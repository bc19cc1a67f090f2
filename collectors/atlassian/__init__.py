"""Atlassian Cloud admin API: organization users and their API tokens."""

from collectors.atlassian.collector import LAYER, SYSTEM, AtlassianCollector

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {SYSTEM: LAYER}

__all__ = ["LAYER", "SYSTEM", "SYSTEMS", "AtlassianCollector"]

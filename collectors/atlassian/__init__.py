"""Atlassian Cloud admin API: organization users and their API tokens."""

from collectors.atlassian.collector import LAYER, SYSTEM, AtlassianCollector

__all__ = ["LAYER", "SYSTEM", "AtlassianCollector"]

"""Atlassian Cloud admin API: organization users and their API tokens."""

"""Slack: Enterprise Grid users, their live sessions and access logs; the session revoker
(the registry imports ``collector.py`` itself)."""

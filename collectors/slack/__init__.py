"""Slack: Enterprise Grid users, their live sessions and access logs; the session revoker."""

from collectors.slack.collector import SlackCollector

__all__ = ["SlackCollector"]

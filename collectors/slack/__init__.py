"""Slack: Enterprise Grid users, their live sessions and access logs; the session revoker
(the registry imports ``collector.py`` itself)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"slack": "saas"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/slack.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "display_name", "has_sso", "is_admin", "is_owner", "workspaces",
    ),
    "Activity": (
        "count", "country", "first_at", "ip", "team_id", "user_agent",
    ),
    "Coverage": (
        "fallback", "logins", "members",
    ),
    "Credential": (
        "client_version", "created_ip", "device", "recent_ip", "session_id", "team_id",
    ),
}

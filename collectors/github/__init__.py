"""GitHub: org members, outside collaborators, deploy keys, apps and PATs (REST + GraphQL)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"github": "code-hosting"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/github.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Activity": (  # audit-log events (audit_log: true)
        "access", "country", "ip", "protocol", "repo", "token_id", "user_agent", "via",
    ),
    "Account": (
        "failed_at", "failed_reason", "invitation", "invitation_id", "invited_at",
        "inviter", "linked_emails", "name", "org_role", "outside_collaborator", "role",
        "two_factor",
    ),
    "Coverage": (
        "events", "members", "since",
    ),
    "Credential": (
        "added_by", "added_by_unknown", "authorized_credential_id",
        "credential_authorization", "credential_type", "fine_grained", "grant_id",
        "never_expires", "parent", "public", "read_only", "repo", "repository_selection",
        "verified",
    ),
    "Grant": (
        "team",
    ),
    "Resource": (
        "active", "app_id", "archived", "created_at", "events", "insecure_ssl", "labels",
        "os", "parent", "permissions", "privacy", "private", "repository_selection",
        "status", "suspended_at", "team", "url", "visibility",
    ),
}

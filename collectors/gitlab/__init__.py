"""GitLab: members, access tokens, deploy keys and CI variables (python-gitlab)."""

# The systems this source's records carry, and the verdict layer each belongs to.
SYSTEMS = {"gitlab": "code-hosting"}
# The least-permission setup this source needs (tests/test_docs.py checks it exists).
PERMISSIONS = "docs/permissions/gitlab.md"
# The attribute keys its records may carry, by record kind: declared, so that the writer
# can check them and docs/schema.md can list them (tests/test_docs.py keeps it current).
ATTRIBUTES = {
    "Account": (
        "access_level", "expires_at", "identities", "invitation_id", "invited_to",
        "inviter", "is_admin", "linked_emails", "state", "system_managed", "user_id",
    ),
    "Coverage": (
        "members",
    ),
    "Credential": (
        "access_level", "added_by", "credentials_inventory", "deep", "impersonation",
        "key_id", "never_expires", "parent", "read_only", "repo", "token_type",
        "usage_type", "user_id", "username",
    ),
    "Exposure": (
        "parent", "variable",
    ),
    "Grant": (
        "access_level", "expires_at", "member_state", "runs_as",
    ),
    "Resource": (
        "active", "archived", "contacted_at", "cron", "environment_scope", "hidden", "id",
        "is_shared", "masked", "namespace", "namespace_kind", "next_run_at", "online",
        "owner", "owner_state", "parent", "parent_id", "paused", "protected", "raw", "ref",
        "rotation", "runner_type", "status", "value_fingerprint", "variable_type",
        "visibility", "web_url",
    ),
}

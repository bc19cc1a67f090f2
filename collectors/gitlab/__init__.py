"""GitLab: members, access tokens, deploy keys and CI variables (python-gitlab)."""

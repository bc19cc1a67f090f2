"""GitHub: org members, outside collaborators, deploy keys, apps and PATs (REST + GraphQL)."""

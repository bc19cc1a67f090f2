"""Okta: users, app assignments, API tokens; also a roster source (``okta`` in ``roster:``)."""

"""OpenAI organization Admin API: users, admin keys, project keys, service accounts."""

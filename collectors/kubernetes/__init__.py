"""Kubernetes: service accounts, RBAC bindings, token secrets, and kubeconfig files."""

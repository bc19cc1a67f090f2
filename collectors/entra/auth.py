"""Signing in to Microsoft Entra ID with azure-identity, for Graph (entra) and ARM (azure).

Why azure-identity: it is Microsoft's own client for every credential a scanner runs
under (an app's client secret or certificate, a managed identity on the VM or pod it runs
on, a workload-identity federation token from Kubernetes or CI, the operator's
``az login``), and MSAL under it caches the token. One tenant per config block.

``authority_host`` is overridable (sovereign clouds, the test fake). For a host that is
not one of Microsoft's known authorities, instance discovery is turned off: MSAL would
otherwise ask login.microsoftonline.com to validate it, and fail.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import urlparse

from scanner.core.errors import ConfigError
from scanner.core.options import Option

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"
KNOWN_AUTHORITIES = {"login.microsoftonline.com", "login.microsoftonline.us",
                     "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}
AUTH_KINDS = ("client_secret", "certificate", "managed_identity", "workload_identity", "azure_cli")

# the keys every Microsoft block shares (entra and azure)
AUTH_OPTIONS: dict[str, Option] = {
    "tenant_id": Option(str, required=True),
    "auth": Option(str, choices=AUTH_KINDS),  # default: client_secret if given, else certificate
    "client_id": Option(str),
    "client_secret": Option(str, secret=True),
    "certificate_path": Option(str),  # PEM with the private key and the certificate
    "certificate_password": Option(str, secret=True),
    "federated_token_file": Option(str),  # workload identity; default $AZURE_FEDERATED_TOKEN_FILE
    "authority_host": Option(str),  # default https://login.microsoftonline.com
    "ca_bundle": Option(str),  # a CA file to trust (a TLS-inspecting proxy, the test fake)
}


def auth_kind(block: dict[str, Any]) -> str:
    kind = block.get("auth")
    if kind:
        return kind
    if block.get("client_secret"):
        return "client_secret"
    if block.get("certificate_path"):
        return "certificate"
    raise ConfigError("auth: set client_secret, certificate_path, or auth "
                      f"({', '.join(AUTH_KINDS)})")


def build_credential(block: dict[str, Any], max_retries: int = 4) -> Any:
    """The azure-identity credential a block describes (nothing is fetched yet)."""
    from azure import identity  # deferred: azure-identity loads MSAL and azure-core (~0.3 s)

    kind = auth_kind(block)
    tenant, client = block["tenant_id"], block.get("client_id")
    kw: dict[str, Any] = {"retry_total": max_retries}
    if block.get("ca_bundle"):
        kw["connection_verify"] = block["ca_bundle"]
    host = block.get("authority_host")
    if host:
        kw["authority"] = host
        if (urlparse(host).hostname or host) not in KNOWN_AUTHORITIES:
            kw["disable_instance_discovery"] = True
    if kind in ("client_secret", "certificate", "workload_identity") and not client:
        raise ConfigError(f"client_id: required for auth {kind}")
    if kind == "client_secret":
        if not block.get("client_secret"):
            raise ConfigError("client_secret: required for auth client_secret")
        return identity.ClientSecretCredential(tenant, client, block["client_secret"], **kw)
    if kind == "certificate":
        if not block.get("certificate_path"):
            raise ConfigError("certificate_path: required for auth certificate")
        return identity.CertificateCredential(tenant, client, block["certificate_path"],
                                              password=block.get("certificate_password"), **kw)
    if kind == "workload_identity":
        token_file = block.get("federated_token_file") or os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
        if not token_file:
            raise ConfigError("federated_token_file: required for auth workload_identity")
        return identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=client,
                                                   token_file_path=token_file, **kw)
    if kind == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=client, retry_total=max_retries)
    return identity.AzureCliCredential(tenant_id=tenant)


def token_roles(token: str) -> set[str] | None:
    """The application permissions (``roles``) an access token carries, read from its
    payload without verifying it (it is ours, just issued): to say which optional parts
    a missing permission will make Graph answer quietly wrong (``employeeLeaveDateTime``
    comes back null without User-LifeCycleInfo.Read.All). None when unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return {str(r) for r in roles} if isinstance(roles, list) else None

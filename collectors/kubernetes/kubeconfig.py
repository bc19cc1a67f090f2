"""Kubeconfig files: the credentials and identities they carry, as exposures and references.

A kubeconfig copied into a repository, a CI variable or a laptop backup is a cluster
credential that no RBAC change revokes: a client certificate keeps working until it
expires, a static token until its Secret is deleted. ``kubeconfig_records`` reads one
file's text (never the network, never the filesystem) and returns:

- an ``Exposure`` per secret it holds (``client-key-data``, ``token``, ``password``,
  auth-provider ``id-token`` / ``refresh-token`` / ``client-secret``, exec ``env`` values
  whose name looks secret): fingerprint and hint only, the value stays in this function;
- a ``Reference`` per identity it names: a client certificate's subject (CN = the
  Kubernetes user, O = its groups, and its expiry), a basic-auth ``username``, an exec
  plugin's command and the IAM role ARNs in its arguments, an auth-provider's issuer and
  client id, and files it points at (``client-key``, ``tokenFile``).

Used by the Kubernetes collector (its ``kubeconfigs`` option) and by the IaC collector for
kubeconfig files found in repositories; both pass their own ``source`` and ``location``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import UTC
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scanner.core.model import Exposure, Reference
from scanner.core.secrets import Fingerprinter, hint, identifier_for

log = logging.getLogger("residual.collectors.kubeconfig")

SECRET_NAME = re.compile(r"(token|password|passwd|secret|private|credential|api[_-]?key)", re.I)
ARN = re.compile(r"\barn:aws[a-z-]*:iam::\d{12}:(?:role|user)/[\w+=,.@/-]+")
AUTH_PROVIDER_SECRETS = ("id-token", "refresh-token", "client-secret", "access-token")


class KubeconfigError(ValueError):
    """The text is not YAML (its message names the line, never the content)."""


def _map(node: Node | None) -> dict[str, Node]:
    if not isinstance(node, MappingNode):
        return {}
    return {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}


def _str(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) and node.value != "" else None


def _seq(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def parse_certificate(pem: bytes) -> dict[str, Any]:
    """Subject CN, O (groups), notAfter and SHA-256 fingerprint of a PEM certificate.
    Raises ValueError if it is not one. (Certificates are public: nothing secret here.)"""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(pem)
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return {"cn": str(cn[0]) if cn else "", "groups": [str(o) for o in orgs],
            "not_before": cert.not_valid_before_utc.astimezone(UTC),
            "not_after": cert.not_valid_after_utc.astimezone(UTC),
            "serial": format(cert.serial_number, "x"),
            "fingerprint": "x509-sha256:" + cert.fingerprint(hashes.SHA256()).hex()}


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


def kubeconfig_records(text: str, location: str, source: str,
                       fingerprinter: Fingerprinter) -> tuple[list[Exposure], list[Reference]]:
    """Exposures and references of one kubeconfig file's text.

    Returns ([], []) when the text is YAML but not a kubeconfig (no ``users`` list);
    raises ``KubeconfigError`` when it is not YAML at all."""
    system = source.split(":", 1)[0]
    try:
        docs = list(yaml.compose_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise KubeconfigError(f"{location}: not valid YAML"
                              + (f" (line {mark.line + 1})" if mark else "")) from None
    root = next((d for d in docs if "users" in _map(d)), None)
    if root is None:
        return [], []
    top = _map(root)
    cluster_server = {_str(_map(c).get("name")) or "": _str(_map(_map(c).get("cluster")).get("server")) or ""
                      for c in _seq(top.get("clusters"))}
    clusters_of_user: dict[str, list[str]] = {}
    for c in _seq(top.get("contexts")):
        ctx = _map(_map(c).get("context"))
        user, cluster = _str(ctx.get("user")), _str(ctx.get("cluster"))
        if user and cluster:
            clusters_of_user.setdefault(user, []).append(cluster_server.get(cluster) or cluster)

    exposures: list[Exposure] = []
    references: list[Reference] = []

    def expose(node: Node, value: str, detector: str, context: str,
               attributes: dict[str, Any], identifier: str | None = None) -> None:
        exposures.append(Exposure(
            system=system, source=source, detector=detector,
            fingerprint=fingerprinter.fingerprint(value), hint=hint(value), location=location,
            line=_line(node), identifier=identifier or identifier_for(detector, value, fingerprinter),
            context=context, attributes=dict(attributes)))

    def refer(node: Node, matched: str, context: str, attributes: dict[str, Any],
              target_kind: str = "account") -> None:
        references.append(Reference(system=system, source=source, location=location,
                                    matched=matched, target_kind=target_kind, line=_line(node),
                                    context=context, attributes=dict(attributes)))

    for entry in _seq(top.get("users")):
        e = _map(entry)
        name = _str(e.get("name")) or "?"
        u = _map(e.get("user"))
        base = {"kubeconfig_user": name, "clusters": clusters_of_user.get(name, [])}
        ctx_name = f"kubeconfig user {name}"

        cert_info: dict[str, Any] | None = None
        if (n := u.get("client-certificate-data")) is not None and _str(n):
            pem = _b64(_str(n) or "")
            try:
                cert_info = parse_certificate(pem or b"")
            except (ValueError, TypeError):
                log.warning("%s: user %s: client-certificate-data is not a certificate", location, name)
            if cert_info:
                refer(n, cert_info["cn"] or "?", f"{ctx_name} client certificate",
                      {**base, "kind": "client_certificate", "cn": cert_info["cn"],
                       "groups": cert_info["groups"], "expires_at": cert_info["not_after"].isoformat(),
                       "certificate_fingerprint": cert_info["fingerprint"]})
        if (n := u.get("client-key-data")) is not None and _str(n):
            key = _b64(_str(n) or "")
            if key:
                expose(n, key.decode("utf-8", "replace"), "Kubeconfig client key",
                       f"{ctx_name} client-key-data",
                       {**base, **({"cn": cert_info["cn"], "groups": cert_info["groups"],
                                    "expires_at": cert_info["not_after"].isoformat()} if cert_info else {})},
                       identifier=cert_info["fingerprint"] if cert_info else None)
        for field in ("client-certificate", "client-key", "tokenFile"):
            if (n := u.get(field)) is not None and _str(n):
                refer(n, _str(n) or "", f"{ctx_name} {field} (file)", {**base, "kind": field},
                      target_kind="credential")
        if (n := u.get("token")) is not None and _str(n):
            expose(n, _str(n) or "", "Kubeconfig token", f"{ctx_name} token", base)
        if (n := u.get("password")) is not None and _str(n):
            expose(n, _str(n) or "", "Kubeconfig password", f"{ctx_name} password", base)
        if (n := u.get("username")) is not None and _str(n):
            refer(n, _str(n) or "", f"{ctx_name} username", {**base, "kind": "basic_auth"})
        if (n := u.get("exec")) is not None:
            _exec_records(n, ctx_name, base, expose, refer)
        if (n := u.get("auth-provider")) is not None:
            ap = _map(n)
            cfg = _map(ap.get("config"))
            provider = _str(ap.get("name")) or "?"
            for key in AUTH_PROVIDER_SECRETS:
                if (v := cfg.get(key)) is not None and _str(v):
                    expose(v, _str(v) or "", f"Kubeconfig auth-provider {key}",
                           f"{ctx_name} auth-provider {provider} {key}", {**base, "provider": provider})
            refer(n, _str(cfg.get("client-id")) or provider, f"{ctx_name} auth-provider {provider}",
                  {**base, "kind": "auth_provider", "provider": provider,
                   "issuer": _str(cfg.get("idp-issuer-url"))})
    return exposures, references


def _exec_records(node: Node, ctx_name: str, base: dict[str, Any], expose, refer) -> None:
    """An exec credential plugin (aws eks get-token, gke-gcloud-auth-plugin, kubelogin):
    no secret of its own, but the IAM role ARNs in its arguments name whose cloud identity
    gets the cluster token (a reference each, with the command, the arguments -- values
    after secret-looking flags masked -- and the env names). Secret-named env values are
    exposures."""
    ex = _map(node)
    command = _str(ex.get("command")) or "?"
    args: list[str] = []
    redact_next = False
    for a in _seq(ex.get("args")):
        value = _str(a) or ""
        if redact_next or (value.startswith("--") and "=" in value and SECRET_NAME.search(value.split("=", 1)[0])):
            args.append("***")
            redact_next = False
            continue
        args.append(value)
        redact_next = value.startswith("-") and bool(SECRET_NAME.search(value))
    env_names = []
    for item in _seq(ex.get("env")):
        env = _map(item)
        env_name, env_value = _str(env.get("name")) or "", _str(env.get("value"))
        env_names.append(env_name)
        if env_value and SECRET_NAME.search(env_name):
            expose(env["value"], env_value, "Kubeconfig exec env", f"{ctx_name} exec env {env_name}",
                   {**base, "env": env_name})
    attrs = {**base, "kind": "exec", "command": command.rsplit("/", 1)[-1], "args": args,
             "env": env_names}
    for arn in sorted({m.group(0) for a in args for m in ARN.finditer(a)}):
        refer(node, arn, f"{ctx_name} exec plugin role", attrs)

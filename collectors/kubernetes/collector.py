"""Kubernetes: where a leaver's cluster access outlives them.

Removing someone from the identity provider does not touch what the cluster itself
holds: RoleBindings that still name their user or group, client certificates (which
Kubernetes cannot revoke), long-lived service-account token Secrets they created or
owned, credentials pasted into Secrets and ConfigMaps, and the ``aws-auth`` ConfigMap that
maps their IAM user into the cluster. This collector lists those, read-only, from one
cluster per config block (kubeconfig + context, or in-cluster config).

Each resource type reads as get -> transform -> load: one paged list call
(``limit``/``continue``) over all namespaces, then a pure transform function per item
(payload dict -> records; unit-testable on the API's own JSON), then the sink.

- A 403 on one resource type marks the cluster's coverage ``partial`` and names what was
  forbidden; the other types are still read. A 404 (an API the cluster does not serve)
  is a ``skipped`` coverage row with the reason. 401 or an unreachable server fails the
  cluster (coverage ``failed``: the verdict is incomplete, never clean).
- 429 and 5xx are retried, bounded, with backoff that honours ``Retry-After``.
- Secret values are decoded and scanned in memory; only fingerprints and hints leave.
- A malformed item is skipped with a warning and counted in the coverage row.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import yaml
from scanner.core import http

from collectors.base import Collector, Scope, TargetRun
from collectors.kubernetes import SYSTEMS
from collectors.kubernetes.kubeconfig import KubeconfigError, kubeconfig_records, parse_certificate
from scanner.core.errors import CollectorError, ResponseTooLarge
from scanner.core.http import bounded_pages
from scanner.core.model import Account, Credential, Exposure, Grant, Record, Resource, make_uid
from scanner.core.options import Option
from scanner.core.secrets import SecretScanner, hint
from scanner.core.store import Sink
from scanner.core.timeparse import parse_time

log = logging.getLogger("residual.collectors.kubernetes")

SYSTEM = "kubernetes"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
LAST_USED = "kubernetes.io/legacy-token-last-used"
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
# Secret types whose data are credentials somebody put there (scanned in memory).
SCANNED_SECRET_TYPES = ("Opaque", "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg",
                        "kubernetes.io/tls", "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth")
# Secret keys that hold nothing secret (certificates, names).
PUBLIC_KEYS = {"ca.crt", "tls.crt", "namespace", "username", "user"}
SECRET_NAME = re.compile(r"(token|password|passwd|secret|private|credential|api[_-]?key|access[_-]?key)", re.I)
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}
DROP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RETRYABLE = {429, 500, 502, 503, 504}
MAX_VALUE_BYTES = 1024 * 1024  # a Secret is at most 1 MiB


class Malformed(ValueError):
    """An item of a list that does not have the shape the API documents."""


# --- small helpers ---------------------------------------------------------------------------


def _meta(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict) \
            or not item["metadata"].get("name"):
        raise Malformed("item without metadata.name")
    return item["metadata"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cluster_uid(source: str) -> str:
    return make_uid(source, "cluster")


def namespace_uid(source: str, namespace: str) -> str:
    return make_uid(source, f"Namespace:{namespace}")


def sa_native_id(namespace: str, name: str) -> str:
    return f"ServiceAccount:{namespace}/{name}"


# --- transforms: payload -> records (pure) ---------------------------------------------------

def cluster_resource(source: str, label: str, server: str | None = None) -> Resource:
    return Resource(system=SYSTEM, source=source, native_id="cluster", kind="cluster", name=label,
                    attributes={"server": server} if server else {})


def namespace_record(item: dict[str, Any], source: str) -> Resource:
    meta = _meta(item)
    return Resource(system=SYSTEM, source=source, native_id=f"Namespace:{meta['name']}",
                    kind="namespace", name=meta["name"],
                    attributes={"phase": _dict(item.get("status")).get("phase"),
                                "terminating": bool(meta.get("deletionTimestamp")),
                                "created_at": meta.get("creationTimestamp")})


def service_account_record(item: dict[str, Any], source: str) -> Account:
    """A ServiceAccount; its labels and annotations (``owner=...``) go to
    ``attributes.annotations`` so that resolve links it to its accountable owner."""
    meta = _meta(item)
    ns, name = meta.get("namespace") or "default", meta["name"]
    notes = {**{str(k): str(v) for k, v in _dict(meta.get("labels")).items()},
             **{str(k): str(v) for k, v in _dict(meta.get("annotations")).items()
                if k not in DROP_ANNOTATIONS}}
    return Account(system=SYSTEM, source=source, native_id=sa_native_id(ns, name),
                   login=f"system:serviceaccount:{ns}:{name}", kind="service_account",
                   status="active", created_at=parse_time(meta.get("creationTimestamp")),
                   attributes={"annotations": notes, "namespace": ns, "uid": meta.get("uid"),
                               "system_managed": ns in SYSTEM_NAMESPACES or name == "default",
                               "automount_token": item.get("automountServiceAccountToken"),
                               "token_secrets": [s.get("name") for s in item.get("secrets") or []
                                                 if isinstance(s, dict)]})


def subject_account(subject: dict[str, Any], source: str, binding_namespace: str | None,
                    known_sas: set[str] | None) -> Account:
    """The Account an RBAC subject names. Users and groups exist only in the
    authenticator, so they are "active" as far as the cluster knows. A ServiceAccount
    subject that the ServiceAccount list did not return is a dangling binding: whoever
    creates that name gets its rights (status ``deleted``)."""
    if not isinstance(subject, dict) or not subject.get("name") or not subject.get("kind"):
        raise Malformed("RBAC subject without kind or name")
    kind, name = subject["kind"], str(subject["name"])
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace or "default"
        nid = sa_native_id(ns, name)
        dangling = known_sas is not None and make_uid(source, nid) not in known_sas
        return Account(system=SYSTEM, source=source, native_id=nid,
                       login=f"system:serviceaccount:{ns}:{name}", kind="service_account",
                       status="deleted" if dangling else "active",
                       attributes={"namespace": ns, "dangling": dangling,
                                   "system_managed": ns in SYSTEM_NAMESPACES})
    if kind not in ("User", "Group"):
        raise Malformed(f"RBAC subject of unknown kind {kind!r}")
    return Account(system=SYSTEM, source=source, native_id=f"{kind}:{name}", login=name,
                   email=name if kind == "User" and EMAIL.match(name) else None,
                   kind="user" if kind == "User" else "group", status="active",
                   attributes={"system_managed": name.startswith("system:")})


def binding_records(item: dict[str, Any], source: str,
                    known_sas: set[str] | None = None) -> list[Account | Grant]:
    """A RoleBinding or ClusterRoleBinding: an Account per subject, and a Grant(via
    "binding") from each subject to the namespace (RoleBinding) or the cluster
    (ClusterRoleBinding), permission = the role's name."""
    meta = _meta(item)
    role = _dict(item.get("roleRef"))
    if not role.get("name"):
        raise Malformed("binding without roleRef.name")
    ns = meta.get("namespace")
    binding_kind = "RoleBinding" if ns else "ClusterRoleBinding"
    label = f"{binding_kind} {ns}/{meta['name']}" if ns else f"{binding_kind} {meta['name']}"
    resource = namespace_uid(source, ns) if ns else cluster_uid(source)
    out: list[Account | Grant] = []
    for subject in item.get("subjects") or []:
        acc = subject_account(subject, source, ns, known_sas)
        out.append(acc)
        out.append(Grant(system=SYSTEM, source=source, principal=acc.uid, resource=resource,
                         permission=role["name"], via="binding",
                         attributes={"binding": label, "binding_kind": binding_kind,
                                     "namespace": ns, "role_kind": role.get("kind"),
                                     "subject_kind": subject["kind"],
                                     "created_at": meta.get("creationTimestamp")}))
    return out


def _decode(value: Any) -> str | None:
    """A Secret data value: base64 -> text. None for binary or undecodable data."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) > MAX_VALUE_BYTES:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def sa_token_credential(item: dict[str, Any], source: str, scanner: SecretScanner) -> Credential:
    """A legacy service-account token Secret: a token that never expires, held by its
    ServiceAccount. ``legacy-token-last-used`` (set by the tracking controller, since
    Kubernetes 1.26) is its last use, to the day; ``legacy-token-invalid-since`` means the
    cleaner has invalidated it."""
    meta = _meta(item)
    ns, name = meta.get("namespace") or "default", meta["name"]
    labels = _dict(meta.get("labels"))
    sa = _dict(meta.get("annotations")).get(SA_NAME_ANNOTATION)
    token = _decode(_dict(item.get("data")).get("token"))
    invalid_since = parse_time(labels.get(INVALID_SINCE))
    return Credential(
        system=SYSTEM, source=source, native_id=f"Secret:{ns}/{name}", kind="sa_token",
        holder=make_uid(source, sa_native_id(ns, sa)) if sa else None, name=f"{ns}/{name}",
        status="inactive" if invalid_since or not token else "active",
        created_at=parse_time(meta.get("creationTimestamp")),
        last_used_at=parse_time(labels.get(LAST_USED)),
        fingerprint=scanner.fp.fingerprint(token) if token else None,
        hint=hint(token) if token else None,
        attributes={"legacy": True, "never_expires": True, "namespace": ns,
                    "service_account": sa, "last_used_label": LAST_USED in labels,
                    "invalid_since": invalid_since.isoformat() if invalid_since else None,
                    "token_missing": not token})


def value_exposures(text: str, *, whole: bool, detector: str, source: str, location: str,
                    context: str, scanner: SecretScanner,
                    attributes: dict[str, Any]) -> list[Exposure]:
    """Exposures for one value: the whole value fingerprinted (``whole``: a value known to
    be a secret, so that it can match a live credential by fingerprint), and whatever
    detect-secrets finds inside it (a password in a properties file)."""
    out: list[Exposure] = []
    seen: set[str] = set()
    value = text.strip()
    if whole and value and ("\n" not in value or value.startswith("-----BEGIN")):
        h = scanner.scan_value(value, key=attributes.get("key", ""), detector=detector)
        seen.add(h.fingerprint)
        out.append(Exposure(system=SYSTEM, source=source, detector=h.detector,
                            fingerprint=h.fingerprint, hint=h.hint, location=location, line=None,
                            identifier=h.identifier, context=context, attributes=dict(attributes)))
    for h in scanner.scan_text(text, location):
        if h.fingerprint in seen:
            continue
        seen.add(h.fingerprint)
        out.append(Exposure(system=SYSTEM, source=source, detector=h.detector,
                            fingerprint=h.fingerprint, hint=h.hint, location=location, line=h.line,
                            identifier=h.identifier, context=context, attributes=dict(attributes)))
    return out


def _docker_config_exposures(text: str, source: str, location: str, context: str,
                             scanner: SecretScanner, attributes: dict[str, Any]) -> list[Exposure]:
    """Registry passwords in a .dockerconfigjson: each password (and the password inside
    ``auth`` = base64(user:password)) fingerprinted on its own."""
    try:
        auths = _dict(_dict(json.loads(text)).get("auths")) or _dict(json.loads(text))
    except ValueError:
        return value_exposures(text, whole=False, detector="Registry credential", source=source,
                               location=location, context=context, scanner=scanner,
                               attributes=attributes)
    out: list[Exposure] = []
    for registry, entry in auths.items():
        entry = _dict(entry)
        secrets = [entry.get("password"), entry.get("identitytoken")]
        auth = _decode(entry.get("auth"))
        if auth and ":" in auth:
            secrets.append(auth.split(":", 1)[1])
        seen: set[str] = set()
        for s in secrets:
            if isinstance(s, str) and s and scanner.fp.fingerprint(s) not in seen:
                seen.add(scanner.fp.fingerprint(s))
                out.extend(value_exposures(s, whole=True, detector="Registry credential",
                                           source=source, location=location,
                                           context=f"{context} registry {registry}",
                                           scanner=scanner,
                                           attributes={**attributes, "registry": registry}))
    return out


def secret_records(item: dict[str, Any], source: str, scanner: SecretScanner) -> list[Record]:
    """A Secret: a legacy SA token -> Credential; Opaque / registry / TLS / basic-auth /
    SSH Secrets -> an Exposure per credential in their data (values never leave)."""
    meta = _meta(item)
    stype = item.get("type") or "Opaque"
    if stype == SA_TOKEN_TYPE:
        return [sa_token_credential(item, source, scanner)]
    if stype not in SCANNED_SECRET_TYPES:
        return []
    ns, name = meta.get("namespace") or "default", meta["name"]
    out: list[Record] = []
    for key, encoded in sorted(_dict(item.get("data")).items()):
        if key in PUBLIC_KEYS:
            continue
        text = _decode(encoded)
        if text is None:
            continue
        location = f"secrets/{ns}/{name}#{key}"
        context = f"Secret {ns}/{name} ({stype}) key {key}"
        attrs = {"kind": "Secret", "namespace": ns, "name": name, "key": key, "type": stype}
        if key in (".dockerconfigjson", ".dockercfg"):
            out.extend(_docker_config_exposures(text, source, location, context, scanner, attrs))
        else:
            out.extend(value_exposures(text, whole=True, detector="Kubernetes Secret value",
                                       source=source, location=location, context=context,
                                       scanner=scanner, attributes=attrs))
    return out


def aws_auth_grants(data: dict[str, Any], source: str) -> tuple[list[Grant], int]:
    """The ``aws-auth`` ConfigMap: each mapUsers / mapRoles entry lets an IAM principal in
    as a Kubernetes user and groups; mapAccounts lets a whole AWS account's users in.
    Returns the Grants (via "mapping", principal = the IAM ARN, resource = the cluster,
    the same shape the AWS collector emits for EKS access entries) and how many entries
    were malformed."""
    grants: list[Grant] = []
    malformed = 0
    for key, arn_field in (("mapUsers", "userarn"), ("mapRoles", "rolearn"), ("mapAccounts", None)):
        raw = data.get(key)
        if not raw:
            continue
        try:
            entries = yaml.safe_load(raw)
        except yaml.YAMLError:
            malformed += 1
            log.warning("%s: aws-auth %s is not valid YAML: skipped", source, key)
            continue
        if not isinstance(entries, list):
            malformed += 1
            continue
        for e in entries:
            if arn_field is None:
                if not isinstance(e, (str, int)) or not str(e).strip().isdigit():
                    malformed += 1
                    continue
                principal, username, groups = f"arn:aws:iam::{str(e).strip()}:root", "", []
            else:
                if not isinstance(e, dict) or not isinstance(e.get(arn_field), str):
                    malformed += 1
                    continue
                principal = e[arn_field].strip()
                username = str(e.get("username") or "")
                groups = [str(g) for g in e.get("groups") or []]
            grants.append(Grant(system=SYSTEM, source=source, principal=principal,
                                resource=cluster_uid(source),
                                permission=f"user:{username} groups:{','.join(groups)}",
                                via="mapping",
                                attributes={"configmap": "kube-system/aws-auth", "field": key,
                                            "username": username, "groups": groups}))
    if malformed:
        log.warning("%s: aws-auth: %d malformed entries skipped", source, malformed)
    return grants, malformed


def config_map_records(item: dict[str, Any], source: str,
                       scanner: SecretScanner) -> tuple[list[Record], int]:
    """A ConfigMap: credentials pasted into its data (whole values under secret-looking
    keys, and whatever detect-secrets finds), and for kube-system/aws-auth the IAM
    mappings. Returns the records and how many aws-auth entries were malformed."""
    meta = _meta(item)
    ns, name = meta.get("namespace") or "default", meta["name"]
    data = _dict(item.get("data"))
    out: list[Record] = []
    malformed = 0
    if ns == "kube-system" and name == "aws-auth":
        grants, malformed = aws_auth_grants(data, source)
        out.extend(grants)
    for key, text in sorted(data.items()):
        if not isinstance(text, str) or len(text) > MAX_VALUE_BYTES:
            continue
        out.extend(value_exposures(
            text, whole=bool(SECRET_NAME.search(key)), detector="ConfigMap value",
            source=source, location=f"configmaps/{ns}/{name}#{key}",
            context=f"ConfigMap {ns}/{name} key {key}", scanner=scanner,
            attributes={"kind": "ConfigMap", "namespace": ns, "name": name, "key": key}))
    return out, malformed


def csr_records(item: dict[str, Any], source: str, now: datetime) -> list[Account | Credential]:
    """An approved CertificateSigningRequest with its issued certificate: a client
    certificate (Credential "client_cert") held by the Kubernetes user named in the
    certificate's CN, with its groups (O) and expiry (notAfter). Pending or denied CSRs
    issued nothing. Kubernetes deletes approved CSRs after about an hour, so this sees
    only recent issuance; older certificates show up in kubeconfig files."""
    meta = _meta(item)
    encoded = _dict(item.get("status")).get("certificate")
    if not encoded:
        return []
    try:
        info = parse_certificate(base64.b64decode(encoded))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Malformed("status.certificate is not a PEM certificate") from exc
    if not info["cn"]:
        raise Malformed("issued certificate has no CN")
    spec = _dict(item.get("spec"))
    user = subject_account({"kind": "User", "name": info["cn"]}, source, None, None)
    cred = Credential(
        system=SYSTEM, source=source, native_id=f"CSR:{meta['name']}", kind="client_cert",
        holder=user.uid, name=meta["name"],
        status="expired" if info["not_after"] <= now else "active",
        created_at=info["not_before"], expires_at=info["not_after"],
        fingerprint=info["fingerprint"], hint=f"CN={info['cn']}",
        attributes={"groups": info["groups"], "requestor": spec.get("username"),
                    "signer": spec.get("signerName"), "serial": info["serial"],
                    "csr": meta["name"], "cn": info["cn"], "revocable": False})
    return [user, cred]


# --- the collector -------------------------------------------------------------------------------


@dataclass
class _State:
    """What one cluster's run remembers between resource types (uids only)."""

    emitted: set[str] = field(default_factory=set)
    service_accounts: set[str] | None = None  # None: the SA list was not read
    aws_auth_seen: bool = False


class _PaginationLoop(Exception):
    pass


class KubernetesCollector(Collector):
    name = "kubernetes"
    layer = SYSTEMS["kubernetes"]
    options = {
        "kubeconfig": Option(str, default="~/.kube/config"),
        "context": Option(str),
        "in_cluster": Option(bool, default=False),
        "name": Option(str),
        "kubeconfigs": Option(list, default=[], item_type=str),
        "page_size": Option(int, default=500),
    }

    # resource -> list path (all namespaces). Read in this order: ServiceAccounts before the
    # bindings that name them (to tell a dangling subject from a live one).
    LISTS: tuple[tuple[str, str], ...] = (
        ("namespaces", "/api/v1/namespaces"),
        ("serviceaccounts", "/api/v1/serviceaccounts"),
        ("secrets", "/api/v1/secrets"),
        ("configmaps", "/api/v1/configmaps"),
        ("rolebindings", "/apis/rbac.authorization.k8s.io/v1/rolebindings"),
        ("clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
        ("certificatesigningrequests", "/apis/certificates.k8s.io/v1/certificatesigningrequests"),
    )
    AWS_AUTH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self.label = self._label()
        self.source = f"{SYSTEM}:{self.label}"
        self._api: Any = None  # kubernetes.client.ApiClient
        self._server: str | None = None

    def describe(self) -> str:
        return self.source

    def _kubeconfig_path(self) -> str:
        path = Path(os.path.expanduser(self.config.get("kubeconfig") or "~/.kube/config"))
        if not path.is_absolute():
            path = self.ctx.base_dir / path
        return str(path)

    def _label(self) -> str:
        """name, else the context, else the kubeconfig's current-context, else in-cluster."""
        if self.config.get("name"):
            return self.config["name"]
        if self.config.get("context"):
            return self.config["context"]
        if self.config.get("in_cluster"):
            return "in-cluster"
        try:
            doc = yaml.safe_load(Path(self._kubeconfig_path()).read_text())
            return str(doc.get("current-context") or "default")
        except (OSError, yaml.YAMLError, AttributeError):
            return "default"

    # -- get ----------------------------------------------------------------------------------
    def _connect(self) -> None:
        from kubernetes import client, config as kconfig
        from kubernetes.config.config_exception import ConfigException

        cfg = client.Configuration()
        try:
            if self.config.get("in_cluster"):
                kconfig.load_incluster_config(client_configuration=cfg)
            else:
                path = self._kubeconfig_path()
                if not Path(path).exists():
                    raise CollectorError(f"kubeconfig {path} not found")
                context = self.config.get("context")
                if context and context not in {c.get("name") for c in kconfig.list_kube_config_contexts(path)[0]}:
                    raise CollectorError(f"context {context!r} not found in kubeconfig {path}")
                kconfig.load_kube_config(config_file=path, context=self.config.get("context"),
                                         client_configuration=cfg, persist_config=False)
        except ConfigException as exc:
            raise CollectorError(f"cannot load the cluster config: {exc.__class__.__name__}") from None
        cfg.retries = 0  # retries are ours: bounded, counted, honouring Retry-After
        self._server = re.sub(r"//[^/@]*@", "//", cfg.host or "")
        self._api = client.ApiClient(cfg)
        # urllib3 follows redirects by default, to any host, presenting the client
        # certificate (it strips only Authorization): a 30x is an answer here, never followed
        pool = self._api.rest_client.pool_manager
        request = pool.request
        pool.request = lambda *a, **kw: request(*a, **{**kw, "redirect": False})

    def _get(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        """One GET through the kubernetes client's own transport (its config, auth and TLS
        handling). The generic call rather than the typed ``CoreV1Api`` methods: same
        requests, and importing the typed API modules costs seconds per run."""
        from kubernetes.client.exceptions import ApiException

        request = self._api.param_serialize(
            "GET", path, query_params=query or [], auth_settings=["BearerToken"],
            header_params={"Accept": "application/json"})
        resp = self._api.call_api(*request, _request_timeout=self.ctx.timeout_s)
        resp.data = _read_capped(resp.response)
        if not 200 <= resp.status <= 299:
            raise ApiException.from_response(http_resp=resp, body=None, data=None)
        return resp.data

    def _call(self, path: str, query: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        """One read call, counted; 429/5xx and dropped connections retried with backoff."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        def call() -> dict[str, Any]:
            self.count_call()
            payload = json.loads(self._get(path, query))
            if not isinstance(payload, dict):
                raise ValueError("response is not a JSON object")
            return payload

        def retryable(exc: BaseException) -> bool:
            return (isinstance(exc, ApiException) and exc.status in RETRYABLE) or isinstance(exc, HTTPError)

        def wait_for(exc: BaseException, delay: float) -> float:
            headers = (getattr(exc, "headers", None) or {}) if isinstance(exc, ApiException) else {}
            return http.retry_after_seconds(headers.get("Retry-After"), delay) or delay

        return http.call_with_retries(call, self.ctx.max_retries, retryable=retryable, wait_for=wait_for)

    def _pages(self, path: str) -> Iterator[list[Any]]:
        """A paged list: ``limit`` = page_size, following ``metadata.continue``."""
        token: str | None = None
        seen: set[str] = set()
        for _ in bounded_pages(getattr(self.ctx, "max_pages", 10_000), f"{path} listing"):
            query: list[tuple[str, Any]] = [("limit", max(1, int(self.config.get("page_size") or 500)))]
            if token:
                query.append(("continue", token))
            payload = self._call(path, query)
            items = payload.get("items")
            if items is not None and not isinstance(items, list):
                raise ValueError("items is not a list")
            yield items or []
            token = _dict(payload.get("metadata")).get("continue")
            if not token:
                return
            if token in seen:
                raise _PaginationLoop()
            seen.add(token)

    # -- collect ------------------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        """The whole cluster in one pass (Kubernetes lists are cheap and cluster-wide);
        a scope does not narrow it: RBAC subjects and Secrets are not indexed by user."""
        with self.target(sink, self.label) as run:
            self._connect()
            sink.emit(cluster_resource(self.source, self.label, self._server))
            state = _State()
            for resource, path in self.LISTS:
                self._collect_list(sink, run, state, resource, path)
            if not state.aws_auth_seen and "configmaps" in run.attributes.get("forbidden", []):
                self._aws_auth_by_name(sink, run, state)
            for path in self.config.get("kubeconfigs") or []:
                self._kubeconfig_file(sink, run, path)

    def _transform(self, resource: str, item: Any, state: _State, run: TargetRun) -> list[Record]:
        if resource == "namespaces":
            return [namespace_record(item, self.source)]
        if resource == "serviceaccounts":
            acc = service_account_record(item, self.source)
            if state.service_accounts is not None:
                state.service_accounts.add(acc.uid)
            return [acc]
        if resource == "secrets":
            return secret_records(item, self.source, self.ctx.secrets)
        if resource == "configmaps":
            records, malformed = config_map_records(item, self.source, self.ctx.secrets)
            if any(isinstance(r, Grant) for r in records) or \
                    (_meta(item).get("namespace"), _meta(item)["name"]) == ("kube-system", "aws-auth"):
                state.aws_auth_seen = True
            if malformed:
                _count(run, "malformed", "aws-auth entries", malformed)
            return records
        if resource in ("rolebindings", "clusterrolebindings"):
            return binding_records(item, self.source, state.service_accounts)
        if resource == "certificatesigningrequests":
            return csr_records(item, self.source, self.ctx.now)
        raise AssertionError(resource)

    def _collect_list(self, sink: Sink, run: TargetRun, state: _State, resource: str,
                      path: str) -> None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if resource == "serviceaccounts":
            state.service_accounts = set()
        complete = False
        try:
            for items in self._pages(path):
                for item in items:
                    try:
                        records = self._transform(resource, item, state, run)
                    except (ValueError, KeyError, TypeError, AttributeError) as exc:
                        log.warning("%s: %s: malformed item skipped: %s", self.source, resource,
                                    exc if isinstance(exc, Malformed) else exc.__class__.__name__)
                        _count(run, "malformed", resource)
                        continue
                    for r in records:
                        if isinstance(r, Account):
                            if r.uid in state.emitted:
                                continue
                            state.emitted.add(r.uid)
                        sink.emit(r)
            complete = True
        except ApiException as exc:
            if exc.status == 401:
                raise CollectorError("the API server refused the credential (401)") from None
            if exc.status == 403:
                run.attributes.setdefault("forbidden", []).append(resource)
                run.partial(f"{resource}: forbidden (403; the role needs list on {resource})")
            elif exc.status == 404:
                self.emit_coverage(sink, f"{self.label}/{resource}", self.layer, "skipped",
                                   error=f"{resource}: not served by this cluster (404)")
            elif exc.status == 410:
                run.partial(f"{resource}: list expired while paging (410)")
            else:
                run.partial(f"{resource}: HTTP {exc.status} {exc.reason or ''}".rstrip())
        except HTTPError as exc:  # MaxRetryError wraps the cause: say which (timeout, refused...)
            cause = getattr(exc, "reason", None) or exc
            raise CollectorError(f"cannot reach the API server: {cause.__class__.__name__}") from None
        except _PaginationLoop:
            run.partial(f"{resource}: the server repeated a continue token; listing stopped")
        except ValueError:
            run.partial(f"{resource}: malformed response")
        finally:
            if resource == "serviceaccounts" and not complete:
                state.service_accounts = None  # unknown: no SA subject is called dangling

    def _aws_auth_by_name(self, sink: Sink, run: TargetRun, state: _State) -> None:
        """Listing ConfigMaps was forbidden: a least-privilege role may still allow a get of
        kube-system/aws-auth alone (docs/permissions/kubernetes.yaml)."""
        from kubernetes.client.exceptions import ApiException

        try:
            item = self._call(self.AWS_AUTH)
        except ApiException as exc:
            if exc.status != 404:
                run.partial(f"configmaps kube-system/aws-auth: HTTP {exc.status}")
            return
        except ValueError:
            run.partial("configmaps kube-system/aws-auth: malformed response")
            return
        grants, malformed = aws_auth_grants(_dict(item.get("data")), self.source)
        if malformed:
            _count(run, "malformed", "aws-auth entries", malformed)
        sink.emit_all(grants)
        state.aws_auth_seen = True

    def _kubeconfig_file(self, sink: Sink, run: TargetRun, path: str) -> None:
        p = Path(os.path.expanduser(path))
        if not p.is_absolute():
            p = self.ctx.base_dir / p
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            run.partial(f"kubeconfig {path}: cannot read ({exc.__class__.__name__})")
            return
        try:
            exposures, references = kubeconfig_records(text, path, self.source,
                                                       self.ctx.fingerprinter)
        except KubeconfigError:
            log.warning("%s: kubeconfig %s is not valid YAML: skipped", self.source, path)
            _count(run, "malformed", "kubeconfigs")
            return
        sink.emit_all(exposures)
        sink.emit_all(references)


def _count(run: TargetRun, key: str, what: str, n: int = 1) -> None:
    counts = run.attributes.setdefault(key, {})
    counts[what] = counts.get(what, 0) + n


def _read_capped(raw: Any, limit: int = http.MAX_RESPONSE_BYTES) -> bytes:
    """The answer's body, decompressed, refused past ``limit`` bytes before it is held
    whole (the kubernetes client would read all of it: a small gzip can be gigabytes)."""
    chunks, size = [], 0
    for chunk in raw.stream(1 << 16, decode_content=True):
        size += len(chunk)
        if size > limit:
            raw.release_conn()
            raise ResponseTooLarge(f"answer larger than {limit >> 20} MB (decompressed): refused")
        chunks.append(chunk)
    return b"".join(chunks)

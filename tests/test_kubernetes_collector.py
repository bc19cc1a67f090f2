"""The Kubernetes collector, driven by the real ``kubernetes`` client against the fake API
server (fixtures/fake_kubernetes.py) through a generated kubeconfig."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext
from collectors.kubernetes.collector import KubernetesCollector
from fixtures import fake_kubernetes as fk
from scanner.core.model import Account, Coverage, Credential, Exposure, Grant, Reference, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from tests.conftest import NOW
from fixtures import SAMPLES as SAMPLES_ROOT

ALICE_KEY = "AKIAFAKEALICEKEY2345"
RAW_SECRETS = (fk.DEMO_SECRET_ACCESS_KEY, "fake-registry-password-FOR-TESTS",
               "hunter2-FAKE-db-password-for-tests", "FAKE.JWT-ALICE-DEBUG-TOKEN.FOR-TESTS-ONLY",
               "FAKE.JWT-LEGACY-BUILDER-TOKEN.FOR-TESTS-ONLY", fk.DEFAULT_TOKEN)


class Result:
    def __init__(self, inv: Inventory, scan_id: str, collector: KubernetesCollector):
        self.inv, self.scan_id, self.collector = inv, scan_id, collector

    def load(self, cls):
        return self.inv.load(cls, self.scan_id)

    @property
    def coverage(self) -> list[Coverage]:
        return self.load(Coverage)

    @property
    def main(self) -> Coverage:
        return next(c for c in self.coverage if c.target == self.collector.label)

    def accounts(self) -> dict[str, Account]:
        return {a.native_id: a for a in self.load(Account)}

    def credentials(self) -> dict[str, Credential]:
        return {c.native_id: c for c in self.load(Credential)}


@pytest.fixture
def cluster():
    server = fk.demo_cluster(aws_key=ALICE_KEY).start()
    yield server
    server.stop()


def collect(tmp_path: Path, server: fk.FakeKubernetes, **options) -> Result:
    if "kubeconfig" not in options:
        options["kubeconfig"] = str(fk.write_kubeconfig(tmp_path / "kubeconfig", server, context="prod"))
    config = { "context": None, "in_cluster": False, "name": None,
              "kubeconfigs": [], "page_size": 500, **options}
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path / "cache",
                           now=NOW, base_dir=tmp_path, max_retries=3)
    inv = Inventory(tmp_path / "inv.duckdb")
    scan_id = inv.begin_scan("test")
    sink = Sink(inv, scan_id)
    collector = KubernetesCollector(config, ctx)
    collector.collect(sink, None)
    sink.flush()
    return Result(inv, scan_id, collector)


def test_demo_cluster_records(tmp_path, cluster):
    r = collect(tmp_path, cluster)
    assert r.collector.source == "kubernetes:prod"
    assert r.main.status == "ok", r.main.error
    assert {x.native_id for x in r.load(Resource) if x.kind == "namespace"} == {
        "Namespace:default", "Namespace:kube-system", "Namespace:apps", "Namespace:payments"}

    accounts = r.accounts()
    alice_sa = accounts["ServiceAccount:apps/alice-debug"]
    assert alice_sa.kind == "service_account"
    assert alice_sa.attributes["annotations"]["owner"] == "alice@example.com"
    assert accounts["ServiceAccount:apps/default"].attributes["system_managed"] is True
    alice = accounts["User:alice@example.com"]
    assert (alice.kind, alice.email, alice.status) == ("user", "alice@example.com", "active")
    assert accounts["Group:contractors"].kind == "group"
    assert accounts["Group:system:masters"].attributes["system_managed"] is True
    assert len(r.load(Account)) == len(accounts)  # each subject once, however many bindings

    creds = r.credentials()
    tok = creds["Secret:apps/alice-debug-token"]
    assert tok.kind == "sa_token" and tok.holder == "kubernetes:prod|ServiceAccount:apps/alice-debug"
    assert tok.last_used_at == datetime(2026, 11, 10, tzinfo=UTC)
    assert tok.attributes["never_expires"] is True and tok.status == "active"
    assert tok.fingerprint == Fingerprinter(b"k" * 32).fingerprint("FAKE.JWT-ALICE-DEBUG-TOKEN.FOR-TESTS-ONLY")
    assert creds["Secret:payments/legacy-builder-token"].last_used_at is None

    cert = creds["CSR:alice"]
    assert cert.kind == "client_cert" and cert.holder == "kubernetes:prod|User:alice@example.com"
    assert cert.expires_at == datetime(2027, 6, 1, tzinfo=UTC) and cert.status == "active"
    assert cert.attributes["groups"] == ["devs"] and cert.attributes["requestor"] == "kubernetes-admin"
    assert creds["CSR:bob-2025"].status == "expired"
    assert "CSR:erin-pending" not in creds  # nothing issued

    grants = r.load(Grant)
    binding = next(g for g in grants if g.principal == alice.uid)
    assert (binding.via, binding.permission, binding.resource) == (
        "binding", "edit", "kubernetes:prod|Namespace:apps")
    assert binding.attributes["binding"] == "RoleBinding apps/alice-edit"
    crb = next(g for g in grants if g.principal == "kubernetes:prod|Group:contractors")
    assert crb.resource == "kubernetes:prod|cluster" and crb.permission == "view"
    mapping = {g.principal: g for g in grants if g.via == "mapping"}
    assert mapping["arn:aws:iam::123456789012:user/alice"].permission == "user:alice groups:contractors"
    assert mapping["arn:aws:iam::123456789012:user/alice"].resource == "kubernetes:prod|cluster"
    assert "arn:aws:iam::123456789012:role/eks-node-role" in mapping

    exposures = r.load(Exposure)
    key = [e for e in exposures if e.identifier == ALICE_KEY]
    assert key and key[0].location == "secrets/apps/aws-creds#AWS_ACCESS_KEY_ID"
    secret_key = [e for e in exposures if e.location == "secrets/apps/aws-creds#AWS_SECRET_ACCESS_KEY"]
    assert secret_key[0].fingerprint == Fingerprinter(b"k" * 32).fingerprint(fk.DEMO_SECRET_ACCESS_KEY)
    registry = [e for e in exposures if e.attributes.get("registry") == "registry.example.com"]
    assert registry and registry[0].fingerprint == Fingerprinter(b"k" * 32).fingerprint(
        "fake-registry-password-FOR-TESTS")
    assert len(registry) == 1  # password and auth carry the same secret: one exposure
    cm = [e for e in exposures if e.location.startswith("configmaps/apps/app-config")]
    assert cm and cm[0].line == 2 and cm[0].attributes["kind"] == "ConfigMap"
    assert not [e for e in exposures if "LOG_LEVEL" in e.location]
    # service-account token Secrets are credentials, not exposures
    assert not [e for e in exposures if "token" in e.location]


def test_no_raw_secret_is_stored(tmp_path, cluster):
    r = collect(tmp_path, cluster)
    dump = []
    for table in ("accounts", "credentials", "grants", "resources", "exposures", "references_",
                  "coverage"):
        dump.append(json.dumps(r.inv.query(f'SELECT * FROM "{table}"'), default=str))
    text = "\n".join(dump)
    for raw in RAW_SECRETS:
        assert raw not in text


def test_read_only(tmp_path, cluster):
    collect(tmp_path, cluster, kubeconfigs=[])
    assert cluster.requests and cluster.writes == []
    assert {r.method for r in cluster.requests} == {"GET"}


def test_pagination_follows_continue(tmp_path, cluster):
    for i in range(7):
        cluster.secret("apps", f"extra-{i}", {"note": "hello"})
    n_secrets = len(cluster.objects["secrets"])
    r = collect(tmp_path, cluster, page_size=2)
    assert cluster.count("/api/v1/secrets") == math.ceil(n_secrets / 2)
    assert cluster.count("/api/v1/namespaces") == math.ceil(4 / 2)
    continued = [q for q in cluster.requests if q.path == "/api/v1/secrets" and q.arg("continue")]
    assert len(continued) == math.ceil(n_secrets / 2) - 1
    assert all(q.arg("limit") == "2" for q in cluster.requests)
    assert {c.native_id for c in r.load(Credential) if c.kind == "sa_token"} == {
        "Secret:apps/ci-deployer-token", "Secret:apps/alice-debug-token",
        "Secret:payments/legacy-builder-token"}
    assert r.main.api_calls == len(cluster.requests)


def test_api_budget_one_call_per_resource_type(tmp_path, cluster):
    r = collect(tmp_path, cluster)
    assert len(cluster.requests) == 7
    assert r.main.api_calls == 7


def test_forbidden_secrets_is_partial_and_the_rest_goes_on(tmp_path, cluster):
    cluster.forbid("secrets")
    r = collect(tmp_path, cluster)
    assert r.main.status == "partial"
    assert "secrets: forbidden (403; the role needs list on secrets)" in r.main.error
    assert not [c for c in r.load(Credential) if c.kind == "sa_token"]
    assert "CSR:alice" in r.credentials()  # later types still read
    assert any(g.via == "mapping" for g in r.load(Grant))


def test_forbidden_configmaps_falls_back_to_aws_auth_get(tmp_path, cluster):
    cluster.forbid("configmaps", get=False)
    r = collect(tmp_path, cluster)
    assert r.main.status == "partial" and "configmaps" in r.main.error
    assert cluster.count("/api/v1/namespaces/kube-system/configmaps/aws-auth") == 1
    assert any(g.principal.endswith("user/alice") for g in r.load(Grant) if g.via == "mapping")


def test_retries_429_honouring_retry_after(tmp_path, cluster, monkeypatch):
    from scanner.core import http
    waits = []
    monkeypatch.setattr(http, "sleep", waits.append)
    cluster.fault(r"^/api/v1/secrets$", status=429, times=2, retry_after=7,
                  body={"kind": "Status", "code": 429, "reason": "TooManyRequests"})
    r = collect(tmp_path, cluster)
    assert r.main.status == "ok"
    assert waits == [7.0, 7.0]
    assert cluster.count("/api/v1/secrets") == 3
    assert r.main.api_calls == 9
    assert "Secret:apps/alice-debug-token" in r.credentials()


def test_persistent_5xx_is_bounded_and_partial(tmp_path, cluster):
    cluster.fault(r"certificatesigningrequests", status=503)
    r = collect(tmp_path, cluster)
    assert cluster.count("/apis/certificates.k8s.io") == 4  # 1 + max_retries (3)
    assert r.main.status == "partial" and "certificatesigningrequests: HTTP 503" in r.main.error


def test_404_api_is_skipped_with_reason(tmp_path, cluster):
    cluster.fault(r"certificatesigningrequests", status=404,
                  body={"kind": "Status", "code": 404, "reason": "NotFound"})
    r = collect(tmp_path, cluster)
    assert r.main.status == "ok"
    skipped = [c for c in r.coverage if c.status == "skipped"]
    assert skipped and "not served" in skipped[0].error and skipped[0].layer == "kubernetes"


def test_wrong_token_fails_the_cluster(tmp_path, cluster):
    kube = tmp_path / "kc"
    kube.write_text(fk.kubeconfig_text(cluster.url, token="FAKE-WRONG-TOKEN-FOR-TESTS", context="prod"))
    r = collect(tmp_path, cluster, kubeconfig=str(kube))
    assert r.main.status == "failed" and "401" in r.main.error
    assert "FAKE-WRONG-TOKEN" not in r.main.error
    assert len(cluster.requests) == 1  # no retry of a refused credential


def test_unreachable_server_fails(tmp_path, cluster):
    kube = tmp_path / "kc"
    cluster.stop()
    kube.write_text(fk.kubeconfig_text("http://127.0.0.1:9", context="prod"))
    r = collect(tmp_path, cluster, kubeconfig=str(kube))
    assert r.main.status == "failed" and "cannot reach" in r.main.error


def test_missing_kubeconfig_fails(tmp_path, cluster):
    r = collect(tmp_path, cluster, kubeconfig=str(tmp_path / "nope"), context="prod")
    assert r.main.status == "failed" and "not found" in r.main.error


def test_unknown_context_fails_with_its_name(tmp_path, cluster):
    r = collect(tmp_path, cluster, context="staging")
    assert r.main.status == "failed" and "'staging' not found" in r.main.error
    assert cluster.requests == []


def test_malformed_items_are_skipped_and_counted(tmp_path, cluster):
    cluster.objects["secrets"].append({"metadata": {"namespace": "apps"}, "type": "Opaque"})
    cluster.objects["rolebindings"].append({"metadata": {"name": "weird", "namespace": "apps"},
                                            "subjects": [{"kind": "Robot", "name": "x"}],
                                            "roleRef": {"kind": "Role", "name": "r"}})
    cluster.csr("garbage", "kubernetes-admin", "FAKE-ISSUED-CERT-FOR-TESTS")
    cm = next(c for c in cluster.objects["configmaps"] if c["metadata"]["name"] == "aws-auth")
    cm["data"]["mapUsers"] += "- username: no-arn\n"
    r = collect(tmp_path, cluster)
    assert r.main.status == "ok"
    assert r.main.attributes["malformed"] == {"secrets": 1, "rolebindings": 1,
                                              "certificatesigningrequests": 1,
                                              "aws-auth entries": 1}
    assert "CSR:alice" in r.credentials()  # the good items still came through


def test_truncated_page_is_partial(tmp_path, cluster):
    cluster.fault(r"^/api/v1/serviceaccounts$", truncate=True, times=1)
    r = collect(tmp_path, cluster)
    assert r.main.status == "partial" and "serviceaccounts: malformed response" in r.main.error
    # without the SA list, SA subjects are not called dangling
    assert r.accounts()["ServiceAccount:apps/ci-deployer"].status == "active"


def test_dangling_service_account_subject(tmp_path, cluster):
    cluster.role_binding("apps", "ghost-edit", "edit", [fk.service_account("apps", "ghost")])
    r = collect(tmp_path, cluster)
    ghost = r.accounts()["ServiceAccount:apps/ghost"]
    assert ghost.status == "deleted" and ghost.attributes["dangling"] is True
    assert r.accounts()["ServiceAccount:apps/ci-deployer"].status == "active"


def test_extra_kubeconfigs_are_scanned(tmp_path, cluster):
    leaked = tmp_path / "leaked-kubeconfig"
    leaked.write_text(fk.kubeconfig_text("https://prod.example.com", token="FAKE-LEAKED-TOKEN-FOR-TESTS-0001"))
    r = collect(tmp_path, cluster, kubeconfigs=[str(leaked), str(tmp_path / "missing")])
    exp = [e for e in r.load(Exposure) if e.location == str(leaked)]
    assert exp and exp[0].detector == "Kubeconfig token" and exp[0].line
    assert r.main.status == "partial" and "missing" in r.main.error
    assert all("FAKE-LEAKED-TOKEN" not in json.dumps(row, default=str)
               for row in r.inv.query("SELECT * FROM exposures"))
    assert r.load(Reference) == []


def test_default_label_is_current_context(tmp_path, cluster):
    r = collect(tmp_path, cluster, context=None)
    assert r.collector.label == "prod" and r.collector.source == "kubernetes:prod"
    r2 = collect(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, cluster,
                 name="eu-prod")
    assert r2.collector.source == "kubernetes:eu-prod"


SAMPLES = (SAMPLES_ROOT / "kubernetes")


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="reference API samples not present")
def test_reference_payloads(tmp_path):
    """The real API's sample payloads, served as they are, go through the collector."""
    server = fk.FakeKubernetes()
    for resource, file in (("namespaces", "namespaces_list.json"),
                           ("serviceaccounts", "serviceaccounts_list.json"),
                           ("secrets", "secrets_list.json"),
                           ("rolebindings", "rolebindings_list.json"),
                           ("clusterrolebindings", "clusterrolebindings_list.json"),
                           ("certificatesigningrequests", "certificatesigningrequests_list.json")):
        server.objects[resource] = json.loads((SAMPLES / file).read_text())["items"]
    aws_auth = json.loads((SAMPLES / "configmap_kube-system_aws-auth.json").read_text())
    server.objects["configmaps"] = [{k: v for k, v in aws_auth.items() if k not in ("kind", "apiVersion")}]
    with server:
        r = collect(tmp_path, server)
    assert r.main.status == "ok"
    # the sample CSR's certificate is a placeholder, not a PEM: skipped and counted
    assert r.main.attributes["malformed"] == {"certificatesigningrequests": 1}
    tok = r.credentials()["Secret:apps/ci-deployer-token"]
    assert tok.holder == "kubernetes:prod|ServiceAccount:apps/ci-deployer"
    assert tok.last_used_at == datetime(2024, 11, 4, tzinfo=UTC)
    accounts = r.accounts()
    assert accounts["User:alice@example.com"].email == "alice@example.com"
    assert accounts["User:jane"].email is None
    assert accounts["ServiceAccount:apps/alice-debug"].status == "active"
    assert {g.principal for g in r.load(Grant) if g.via == "mapping"} == {
        "arn:aws:iam::111122223333:role/my-node-role", "arn:aws:iam::111122223333:role/my-console-viewer-role",
        "arn:aws:iam::111122223333:user/admin", "arn:aws:iam::444455556666:user/my-user"}
    db = [e for e in r.load(Exposure) if e.location == "secrets/apps/db-credentials#password"]
    assert db and db[0].fingerprint == Fingerprinter(b"k" * 32).fingerprint("fake-password-for-tests")
    terminating = {x.name: x for x in r.load(Resource) if x.kind == "namespace"}["alice-sandbox"]
    assert terminating.attributes["terminating"] is True


def test_documented_cluster_role_covers_every_call_and_only_reads():
    import yaml

    docs = list(yaml.safe_load_all((Path(__file__).resolve().parents[1]
                                    / "docs/permissions/kubernetes.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    allowed = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               if "list" in rule["verbs"]}
    verbs = {v for d in docs if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]
             for v in rule["verbs"]}
    assert verbs <= {"get", "list"}
    for resource, path in KubernetesCollector.LISTS:
        group = "" if path.startswith("/api/v1") else path.split("/")[2]
        assert (group, resource) in allowed, resource

"""kubeconfig_records: secrets in a kubeconfig become fingerprinted exposures, identities
become references, and no value leaves the function."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import yaml

from collectors.kubernetes.kubeconfig import KubeconfigError, kubeconfig_records
from fixtures.fake_kubernetes import client_certificate
from scanner.core.secrets import Fingerprinter

FP = Fingerprinter(b"k" * 32)
KEY_PEM = "-----BEGIN EC PRIVATE KEY-----\nFAKEKEYMATERIALFORTESTSONLY000000000000\n-----END EC PRIVATE KEY-----\n"
TOKEN = "FAKE-STATIC-TOKEN-FOR-TESTS-0123456789"
OIDC_REFRESH = "FAKE-REFRESH-TOKEN-FOR-TESTS-abcdef"
SECRET_ENV = "FAKE-ENV-SECRET-FOR-TESTS-999"
B64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731


def kubeconfig() -> str:
    cert = client_certificate("alice@example.com", ["devs", "ops"], datetime(2026, 1, 1, tzinfo=UTC),
                              datetime(2027, 1, 1, tzinfo=UTC))
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example.com",
                                                  "certificate-authority-data": B64("FAKE-CA")}},
                     {"name": "eks", "cluster": {"server": "https://eks.example.com"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "alice"}},
                     {"name": "ci", "context": {"cluster": "prod", "user": "ci"}},
                     {"name": "eks", "context": {"cluster": "eks", "user": "eks-admin"}}],
        "users": [
            {"name": "alice", "user": {"client-certificate-data": B64(cert),
                                       "client-key-data": B64(KEY_PEM)}},
            {"name": "ci", "user": {"token": TOKEN}},
            {"name": "basic", "user": {"username": "admin", "password": "hunter2-FAKE-basic-pass"}},
            {"name": "eks-admin", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", "prod", "--role-arn",
                         "arn:aws:iam::123456789012:role/eks-admin", "--token", "FAKE-ARG-TOKEN-XYZ"],
                "env": [{"name": "AWS_PROFILE", "value": "prod"},
                        {"name": "AWS_SECRET_ACCESS_KEY", "value": SECRET_ENV}]}}},
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "client-id": "kubernetes", "idp-issuer-url": "https://idp.example.com",
                "refresh-token": OIDC_REFRESH}}}},
            {"name": "files", "user": {"client-key": "/home/alice/.kube/alice.key",
                                       "tokenFile": "/var/run/token"}},
        ]}, sort_keys=False)


def test_exposures_and_references():
    text = kubeconfig()
    exposures, references = kubeconfig_records(text, "infra/kubeconfig", "iac:repo", FP)
    by_detector = {e.detector: e for e in exposures}
    assert set(by_detector) == {"Kubeconfig client key", "Kubeconfig token", "Kubeconfig password",
                                "Kubeconfig exec env", "Kubeconfig auth-provider refresh-token"}
    key = by_detector["Kubeconfig client key"]
    assert key.fingerprint == FP.fingerprint(KEY_PEM) and key.hint == "-----BEGIN …"
    assert key.system == "iac" and key.source == "iac:repo" and key.location == "infra/kubeconfig"
    assert key.attributes["cn"] == "alice@example.com" and key.attributes["groups"] == ["devs", "ops"]
    assert key.identifier.startswith("x509-sha256:")
    tok = by_detector["Kubeconfig token"]
    assert tok.fingerprint == FP.fingerprint(TOKEN)
    assert tok.attributes["clusters"] == ["https://prod.example.com"]
    assert text.splitlines()[tok.line - 1].strip().startswith("token:")

    refs = {r.context: r for r in references}
    cert = refs["kubeconfig user alice client certificate"]
    assert cert.matched == "alice@example.com" and cert.attributes["expires_at"].startswith("2027-01-01")
    assert refs["kubeconfig user basic username"].matched == "admin"
    role = refs["kubeconfig user eks-admin exec plugin role"]
    assert role.matched == "arn:aws:iam::123456789012:role/eks-admin"
    assert role.attributes["command"] == "aws"
    assert role.attributes["env"] == ["AWS_PROFILE", "AWS_SECRET_ACCESS_KEY"]
    assert role.attributes["args"][-1] == "***"  # the value after --token is not kept
    assert refs["kubeconfig user oidc auth-provider oidc"].attributes["issuer"] == "https://idp.example.com"
    assert {r.matched for r in references if r.target_kind == "credential"} == {
        "/home/alice/.kube/alice.key", "/var/run/token"}

    dump = repr(exposures) + repr(references)
    for raw in (TOKEN, OIDC_REFRESH, SECRET_ENV, "hunter2-FAKE-basic-pass", "FAKEKEYMATERIAL",
                "FAKE-ARG-TOKEN-XYZ"):
        assert raw not in dump


def test_not_a_kubeconfig_and_not_yaml():
    assert kubeconfig_records("name: x\nitems: [1, 2]\n", "a.yaml", "iac:r", FP) == ([], [])
    with pytest.raises(KubeconfigError) as err:
        kubeconfig_records("users: [\n  - {name: x\n token: SECRETVALUE", "b.yaml", "iac:r", FP)
    assert "SECRETVALUE" not in str(err.value) and "b.yaml" in str(err.value)


def test_bad_certificate_data_is_skipped_not_fatal():
    text = yaml.safe_dump({"users": [{"name": "x", "user": {
        "client-certificate-data": B64("not a certificate"), "token": TOKEN}}]})
    exposures, references = kubeconfig_records(text, "k", "kubernetes:prod", FP)
    assert [e.detector for e in exposures] == ["Kubeconfig token"] and references == []

"""Per-format parsers: references and secrets by line, and each parser's fallback."""

from __future__ import annotations

import base64
import json

import pytest

from collectors.iac.parsers import analyze, file_kind
from scanner.core.secrets import Fingerprinter, SecretScanner

FAKE_AWS_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake


@pytest.fixture
def scanner() -> SecretScanner:
    return SecretScanner(Fingerprinter(b"test-key-" * 4))


def refs(facts):
    return {(r.line, r.matched, r.recreates) for r in facts.refs}


def hits(facts):
    return {(h.line, h.detector) for h in facts.hits}


TF = '''variable "db_password" {
  type    = string
  default = "Zq8vN3xT7pL2wK9m"
}

variable "region" {
  default = "eu-west-1"
}

resource "aws_iam_user" "alice" {
  name = "alice"
  tags = {
    email      = "alice@example.com"
    git_commit = "0123456789abcdef0123456789abcdef01234567"
  }
}

resource "github_membership" "m" {
  username = "alice-gh"
  role     = "member"
}

resource "aws_iam_role" "deploy" {
  name               = "deploy"
  assume_role_policy = jsonencode({
    Statement = [{ Principal = { AWS = "arn:aws:iam::123456789012:user/alice" } }]
  })
}
'''


def test_terraform(scanner):
    f = analyze("infra/main.tf", TF, scanner)
    assert f.kind == "terraform" and f.parse_error is None
    assert (11, "alice", True) in refs(f)  # aws_iam_user.name: would recreate
    assert (13, "alice@example.com", False) in refs(f)  # a tag: leftover
    assert (19, "alice-gh", True) in refs(f)
    assert (26, "arn:aws:iam::123456789012:user/alice", True) in refs(f)  # trust policy
    # variable default on another line than the name: structure-aware recall
    assert (3, "Terraform variable default") in hits(f)
    assert all(h.line != 7 for h in f.hits)  # a non-secret variable default
    assert all(h.line != 14 for h in f.hits)  # git_commit tag: noise
    ctx = {r.context for r in f.refs if r.matched == "alice-gh"}
    assert ctx == {"terraform github_membership.m"}


def test_terraform_fallback_to_lines(scanner):
    broken = 'resource "aws_iam_user" "dave" {\n  email = "dave@example.com"\n  password = "Zq8vN3xT7pL2wK9mQ"\n'
    f = analyze("broken.tf", broken, scanner)
    assert f.parse_error and f.parse_error.startswith("terraform:")
    assert (3, "Secret Keyword") in hits(f)
    assert (2, "dave@example.com", False) in refs(f)


TFSTATE = {
    "version": 4,
    "resources": [
        {"mode": "managed", "type": "aws_iam_access_key", "name": "alice",
         "instances": [{"attributes": {"id": FAKE_AWS_ID, "user": "alice",
                                       "secret": "Fake/Secret+Value0123456789abcdefABCDEF",
                                       "status": "Active"},
                        "sensitive_attributes": [[{"type": "get_attr", "value": "secret"}]]}]},
        {"mode": "managed", "type": "aws_db_instance", "name": "db",
         "instances": [{"attributes": {"username": "admin", "password": "Zq8vN3xT7pL2wK9m",
                                       "engine": "postgres"}, "sensitive_attributes": []}]},
    ],
}


def test_tfstate(scanner):
    text = json.dumps(TFSTATE, indent=2)
    lines = text.split("\n")
    f = analyze("prod.tfstate", text, scanner)
    assert f.kind == "tfstate" and f.parse_error is None
    secret_line = next(i for i, l in enumerate(lines, 1) if '"secret"' in l)
    pw_line = next(i for i, l in enumerate(lines, 1) if '"password"' in l)
    by_line = {h.line: h for h in f.hits}
    assert by_line[secret_line].identifier == FAKE_AWS_ID  # the key id of its key pair
    assert pw_line in by_line
    assert any(r.matched == "alice" and r.context == "tfstate aws_iam_access_key.alice" for r in f.refs)


def test_tfstate_fallback(scanner):
    f = analyze("prod.tfstate", '{"resources": [ {"password": "Zq8vN3xT7pL2wK9m"', scanner)
    assert f.parse_error and "tfstate" in f.parse_error
    assert (1, "Secret Keyword") in hits(f)


MANIFESTS = '''apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: admins
  namespace: dev
subjects:
- kind: User
  name: alice@example.com
- kind: ServiceAccount
  name: ci
  namespace: dev
---
apiVersion: v1
kind: Secret
metadata:
  name: db
data:
  password: {pw}
  aws: {aws}
'''


def test_kubernetes_manifests(scanner):
    pw = base64.b64encode(b"super-secret-password-123").decode()
    aws = base64.b64encode(FAKE_AWS_ID.encode()).decode()
    f = analyze("k8s/rb.yaml", MANIFESTS.format(pw=pw, aws=aws), scanner)
    assert f.kind == "yaml" and f.parse_error is None
    assert (8, "alice@example.com", True) in refs(f)
    assert (10, "ci", True) in refs(f)
    by_line = {h.line: h for h in f.hits}
    # decoded before fingerprinting: the fingerprint is the secret's, not its base64's
    assert by_line[18].fingerprint == scanner.fp.fingerprint("super-secret-password-123")
    assert by_line[19].identifier == FAKE_AWS_ID and by_line[19].detector == "AWS Access Key"


def test_yaml_fallback(scanner):
    f = analyze("values.yaml", "a: [1, 2\npassword: 'Zq8vN3xT7pL2wK9m'\n  bad: : :\n", scanner)
    assert f.parse_error and "YAML" in f.parse_error
    assert (2, "Secret Keyword") in hits(f)


CFN = '''AWSTemplateFormatVersion: "2010-09-09"
Resources:
  AliceUser:
    Type: AWS::IAM::User
    Properties:
      UserName: alice
  AliceKey:
    Type: AWS::IAM::AccessKey
    Properties:
      UserName: !Ref AliceUser
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-logs"
'''


def test_cloudformation(scanner):
    f = analyze("stack.yaml", CFN, scanner)
    assert f.kind == "cloudformation" and f.parse_error is None
    assert (6, "alice", True) in refs(f)
    assert not any(r.matched == "AliceUser" for r in f.refs)  # !Ref is not a literal name


def test_cloudformation_fallback(scanner):
    f = analyze("stack.json", '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {', scanner)
    assert f.kind == "cloudformation" and f.parse_error


def test_codeowners_and_workflow(scanner):
    f = analyze(".github/CODEOWNERS", "# owners\n/infra/ @alice-gh @acme/platform bob@example.com\n*.md @carol-gh\n", scanner)
    assert refs(f) == {(2, "alice-gh", False), (2, "bob@example.com", False), (3, "carol-gh", False)}
    assert all(r.system == "github" for r in f.refs)
    wf = ("on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    env:\n"
          "      AWS_ACCESS_KEY_ID: " + FAKE_AWS_ID + "\n      DEPLOY_TOKEN: ${{ secrets.DEPLOY }}\n")
    w = analyze(".github/workflows/deploy.yml", wf, scanner)
    assert w.kind == "ci" and (6, "AWS Access Key") in hits(w)
    assert all(h.line != 7 for h in w.hits)


def test_dotenv(scanner):
    f = analyze("app/.env", "# local\nDATABASE_PASSWORD=Zq8vN3xT7pL2wK9m\nDEBUG=true\nAPI_TOKEN=\n", scanner)
    assert f.kind == "dotenv"
    assert {h.line for h in f.hits} == {2}


def test_kubeconfig(scanner):
    kc = ("apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://k8s\n"
          "users:\n- name: alice@example.com\n  user:\n    token: Zq8vN3xT7pL2wK9mR4sT6uV8wX0yZ2aB\n"
          "contexts:\n- name: prod\n  context:\n    cluster: prod\n    user: alice@example.com\n")
    f = analyze("ops/kubeconfig", kc, scanner)
    assert f.kind == "kubeconfig"
    assert 10 in {h.line for h in f.hits}
    assert any(r.matched == "alice@example.com" for r in f.refs)


def test_file_kinds():
    assert file_kind("a/b.tfstate.backup", "") == "tfstate"
    assert file_kind(".gitlab-ci.yml", "") == "ci"
    assert file_kind("x/values.yaml", "replicas: 1") == "yaml"
    assert file_kind("README.md", "") == "text"


def test_terraform_kubernetes_role_binding_subjects(scanner):
    tf = ('resource "kubernetes_role_binding" "admins" {\n  metadata {\n    name      = "admins"\n'
          '    namespace = "dev"\n  }\n  role_ref {\n    api_group = "rbac.authorization.k8s.io"\n'
          '    kind      = "Role"\n    name      = "admin"\n  }\n  subject {\n    kind      = "User"\n'
          '    name      = "alice@example.com"\n    api_group = "rbac.authorization.k8s.io"\n  }\n}\n')
    f = analyze("rbac.tf", tf, scanner)
    assert f.parse_error is None
    assert {(r.line, r.matched, r.recreates) for r in f.refs} == {(13, "alice@example.com", True)}

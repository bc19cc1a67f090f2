"""SecretScanner: detect-secrets' findings, only faster, plus IaC recall and noise filters."""

from __future__ import annotations

import base64
import hashlib
import random
import string

import pytest

from scanner.core.secrets import Fingerprinter, SecretScanner, hint, ssh_public_fingerprint

FAKE_AWS_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake, not a real key
FAKE_GH = "ghp_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"  # fake


@pytest.fixture
def scanner() -> SecretScanner:
    return SecretScanner(Fingerprinter(b"test-key-" * 4))


def by_line(hits):
    return {(h.line, h.detector) for h in hits}


def test_finds_secrets_by_line_without_raw_values(scanner):
    text = f'a = 1\nkey_id = "{FAKE_AWS_ID}"\n\ntoken = "{FAKE_GH}"\npassword = "hunter2hunter2"\n'
    hits = scanner.scan_text(text, "x.tf")
    assert (2, "AWS Access Key") in by_line(hits)
    assert (4, "GitHub Token") in by_line(hits)
    assert (5, "Secret Keyword") in by_line(hits)
    gh = next(h for h in hits if h.detector == "GitHub Token")
    # the whole token is fingerprinted (detect-secrets reports only the "ghp" group)
    assert gh.fingerprint == scanner.fp.fingerprint(FAKE_GH)
    assert gh.identifier == scanner.fp.last8(FAKE_GH)
    aws = next(h for h in hits if h.detector == "AWS Access Key")
    assert aws.identifier == FAKE_AWS_ID
    dump = repr(hits)
    assert FAKE_GH not in dump and "hunter2hunter2" not in dump


def test_hint_never_shows_more_than_prefix_and_last4():
    assert hint(FAKE_GH) == "ghp_…6789"
    assert hint("short") == "…(5 chars)"


def test_noise_filter_git_commit_tag(scanner):
    sha = "0123456789abcdef0123456789abcdef01234567"
    hits = scanner.scan_text(f'tags = {{\n  git_commit = "{sha}"\n}}\n', "main.tf")
    assert hits == [] and scanner.filtered == {"commit/digest hash": 1}
    # near miss: the same hex string under a key that names a secret is reported
    near = scanner.scan_text(f'  api_token = "{sha}"\n', "main.tf")
    assert near and near[0].line == 1


def test_noise_filter_documentation_examples(scanner):
    hits = scanner.scan_text('access_key = "AKIAIOSFODNN7EXAMPLE"\n', "doc.tf")
    assert hits == [] and scanner.filtered == {"documentation example": 1}
    assert SecretScanner(scanner.fp, noise_filters=False).scan_text(
        'access_key = "AKIAIOSFODNN7EXAMPLE"\n', "doc.tf")  # the filter, not the detector


def test_private_key_block_fingerprinted_whole_with_public_fingerprint(scanner):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                        serialization.PublicFormat.OpenSSH)
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(pub.split()[1])).digest()).decode().rstrip("=")
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()
    hits = scanner.scan_text("deploy key:\n" + pem + "\n" + other, "keys.txt")
    keys = [h for h in hits if h.detector == "Private Key"]
    assert [h.line for h in keys][0] == 2
    assert keys[0].identifier == expected == ssh_public_fingerprint(pem)
    assert len({h.fingerprint for h in keys}) == 2  # two keys, two fingerprints
    # base64-wrapped (Kubernetes Secret data, kubeconfig client-key-data)
    wrapped = base64.b64encode(pem.encode()).decode()
    b64 = scanner.scan_text(f"x: 1\nssh-privatekey: {wrapped}\n", "secret.yaml")
    assert any(h.detector == "Private Key (base64)" and h.line == 2 and h.identifier == expected
               for h in b64)


def test_scan_pairs_recall_for_unquoted_yaml_and_assigned_secrets(scanner):
    lines = ["env:", "  DB_PASSWORD: Zq8vN3xT7pL2wK9m", "  TOKEN: ${{ secrets.TOKEN }}",
             "  blob: 4vQ8mZr2XkLp9sT3wYb6NcJh1FgD5eRu7aPq"]
    pairs = [(2, "DB_PASSWORD", "Zq8vN3xT7pL2wK9m"), (3, "TOKEN", "${{ secrets.TOKEN }}"),
             (4, "blob", "4vQ8mZr2XkLp9sT3wYb6NcJh1FgD5eRu7aPq")]
    hits = scanner.scan_pairs(pairs, lines, "ci.yml")
    got = {h.line for h in hits}
    assert 2 in got  # key names a secret, literal value
    assert 4 in got  # unquoted high-entropy value (what detect-secrets' YAML transformer sees)
    assert 3 not in got  # a reference, not a literal


def _plugin_samples(rnd: random.Random) -> list[str]:
    """One fake value per detect-secrets plugin (random parts, so never a real secret)."""
    def r(n, chars=string.ascii_letters + string.digits):
        return "".join(rnd.choices(chars, k=n))
    low, hexd = string.ascii_lowercase + string.digits, "0123456789abcdef"
    return [
        f"artifactory: AKC{r(30)}", f"art = AP6{r(20)}", f"x AccountKey={r(86)}== y",
        f'cloudant_password = "{r(64, hexd)}"', f"{rnd.choice('MNO')}{r(23)}.{r(6)}.{r(27)}",
        f"glpat-{r(20)}", f'ibm_cloud_iam_key = "{r(44)}"',
        f'ibm_cos_hmac_secret_access_key = "{r(48, hexd)}"', "server at 34.12.5.77 ok",
        f"eyJ{r(20)}.eyJ{r(20)}.{r(20)}", f"{r(32, low)}-us12",
        f"//registry.npmjs.org/:_authToken=npm_{r(36)}", f"sk-{r(20)}T3BlbkFJ{r(20)}",
        "-----BEGIN RSA PRIVATE KEY-----", f"pypi-AgEIcHlwaS5vcmc{r(70)}",
        f"SG.{r(22)}.{r(43)}", f"xoxb-{r(10, string.digits)}-{r(12, low)}",
        f"https://hooks.slack.com/services/T{r(8)}/B{r(8)}/{r(24)}",
        f'softlayer_api_key = "{r(64, low)}"', f"sq0csp-{r(43)}", f"sk_live_{r(24)}",
        f"{r(9, string.digits)}:{r(35)}", f"AC{r(32, low)}", f"SK{r(32, low)}",
        f"aws_secret = '{r(40)}'", f"AKIA{r(16, string.ascii_uppercase)}",
    ]


def _corpus(seed: int) -> str:
    rnd = random.Random(seed)
    alpha = string.ascii_letters + string.digits
    out = []
    for i in range(400):
        r = rnd.random()
        if r < 0.1:
            out.append(rnd.choice(_plugin_samples(rnd)))
        elif r < 0.15:
            out.append(f'secret_key = "{"".join(rnd.choices(alpha, k=40))}"')
        elif r < 0.08:
            out.append(f"url = https://user:{''.join(rnd.choices(alpha, k=12))}@db.internal/x")
        elif r < 0.10:
            out.append(f'  "{"".join(rnd.choices("0123456789abcdef", k=32))}"')
        elif r < 0.12:
            out.append("AKIA" + "".join(rnd.choices(string.ascii_uppercase + "234567", k=16)))
        else:
            out.append(" ".join("".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 9)))
                                for _ in range(rnd.randint(1, 12))))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefilter_loses_nothing_detect_secrets_finds(scanner, tmp_path, seed):
    """Same findings as detect-secrets' own scan_file on a plain text file (by line: where
    two plugins report one value, residual keeps one hit per value and line)."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings
    text = _corpus(seed)
    f = tmp_path / "corpus.txt"
    f.write_text(text)
    with default_settings():
        theirs = {s.line_number for s in scan_file(str(f))}
    ours = {h.line for h in SecretScanner(scanner.fp, noise_filters=False).scan_text(text, str(f))}
    assert theirs and theirs <= ours

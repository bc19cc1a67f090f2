"""correlate(): exposures tied to the credentials they expose, by SQL."""

from __future__ import annotations

from scanner.core.model import Credential, Exposure
from scanner.core.store import Inventory
from scanner.correlate import correlate

KEY_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake


def test_correlate_by_key_id_ssh_fingerprint_last8_and_keyed_fingerprint():
    inv = Inventory(":memory:")
    scan = inv.begin_scan("t")
    inv.insert(scan, [
        Credential("aws", "aws:1", f"arn:aws:iam::1:user/alice/{KEY_ID}", "access_key",
                   holder="aws:1|arn:aws:iam::1:user/alice", status="inactive",
                   attributes={"access_key_id": KEY_ID}),
        Credential("aws", "aws:1", KEY_ID, "access_key", holder="aws:1|arn:aws:iam::1:user/alice"),
        Credential("github", "github:acme", "42", "deploy_key", fingerprint="SHA256:abc"),
        Credential("github", "github:acme", "auth-7", "oauth_grant", fingerprint="last8:xyz"),
        Credential("gitlab", "gitlab:g", "var-1", "secret", fingerprint="keyedfp"),
        Exposure("iac", "iac:x", "AWS Access Key", "f1", "h", "a.tf", identifier=KEY_ID),
        Exposure("iac", "iac:x", "Private Key", "f2", "h", "id_ed25519", identifier="SHA256:abc"),
        Exposure("iac", "iac:x", "GitHub Token", "f3", "h", "wf.yml", identifier="last8:xyz"),
        Exposure("iac", "iac:x", "Secret Keyword", "keyedfp", "h", ".env"),
        Exposure("iac", "iac:x", "Private Key", "f5", "h", "other", identifier="SHA256:nomatch"),
    ])
    other = inv.begin_scan("t2")  # another scan's credentials never match
    inv.insert(other, [Credential("github", "github:acme", "99", "deploy_key", fingerprint="SHA256:nomatch")])
    assert correlate(inv, scan) == 4
    got = dict(inv.query("SELECT location, matched_credential FROM exposures WHERE scan_id = ?", [scan]))
    assert got == {"a.tf": f"aws:1|{KEY_ID}",  # the active one of two matches wins
                   "id_ed25519": "github:acme|42", "wf.yml": "github:acme|auth-7",
                   ".env": "gitlab:g|var-1", "other": None}

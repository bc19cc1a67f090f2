"""Secrets in, fingerprints out.

A raw secret value must never leave the process that read it. What we keep is:
- a *keyed* fingerprint, HMAC-SHA256 under a key that lives outside the inventory and
  the reports (created on first use, mode 0600). Keyed, so that someone holding a leaked
  report or inventory cannot confirm a guessed password by hashing it;
- a *hint*: at most a well-known public prefix and the last four characters, enough for
  a person to recognise which token it is.

``SecretScanner`` wraps detect-secrets' plugins (text in, ``SecretHit`` out). Its results
carry only fingerprints and hints: the detect-secrets ``PotentialSecret`` objects, which
keep the raw value, are dropped as soon as they are fingerprinted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path

# Public prefixes that identify a token's issuer; showing them reveals nothing secret.
KNOWN_PREFIXES = (
    "github_pat_", "glpat-", "gldt-", "glptt-", "glrt-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "xoxb-", "xoxp-", "xoxa-", "xapp-", "sk_live_", "sk_test_", "rk_live_", "AKIA", "ASIA",
    "AIza", "SG.", "npm_", "pypi-", "dop_v1_", "hf_", "-----BEGIN",
)

AWS_KEY_ID = re.compile(r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b")


class Fingerprinter:
    """Keyed fingerprints. One key per installation, kept beside (not inside) the inventory."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("fingerprint key too short")
        self._key = key

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "Fingerprinter":
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(_secrets.token_hex(32) + "\n")
        return cls(bytes.fromhex(p.read_text().strip()))

    def fingerprint(self, value: str | bytes) -> str:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:40]

    def last8(self, token: str) -> str:
        """Correlation handle for tokens that providers identify by their last eight
        characters (GitHub's token_last_eight): keyed, so the inventory never holds them."""
        return "last8:" + self.fingerprint("last8:" + token[-8:])


def hint(value: str) -> str:
    """At most a known public prefix and the last four characters."""
    value = value.strip()
    if len(value) < 12:
        return f"…({len(value)} chars)"
    prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")
    if prefix == "-----BEGIN":
        return "-----BEGIN …"
    return f"{prefix}…{value[-4:]}"


@dataclass(slots=True)
class SecretHit:
    """One secret found in a text. No raw value: fingerprint, hint and a public handle."""

    detector: str
    fingerprint: str
    hint: str
    line: int
    identifier: str | None = None  # AWS key id, SSH public key fingerprint, last8 handle
    key: str | None = None  # the variable / attribute name it was assigned to, if known


def identifier_for(detector: str, value: str, fp: Fingerprinter) -> str | None:
    """A non-secret handle that lets an exposure be tied to a live credential."""
    m = AWS_KEY_ID.search(value)
    if m:
        return m.group(1)
    if value.startswith(("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")):
        return fp.last8(value)
    return None


class SecretScanner:
    """Text in, fingerprinted SecretHits out, through detect-secrets' plugins."""

    def __init__(self, fingerprinter: Fingerprinter):
        self.fp = fingerprinter

    def scan_text(self, text: str, path: str = "") -> list[SecretHit]:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings

        hits: list[SecretHit] = []
        seen: set[tuple[int, str]] = set()
        with default_settings():
            for lineno, line in enumerate(text.splitlines(), start=1):
                if len(line) > 4000:  # minified blobs: regex backtracking, no real gain
                    line = line[:4000]
                for ps in scan_line(line):
                    value = ps.secret_value or ""
                    if not value:
                        continue
                    fp = self.fp.fingerprint(value)
                    if (lineno, fp) in seen:
                        continue
                    seen.add((lineno, fp))
                    hits.append(SecretHit(ps.type, fp, hint(value), lineno,
                                          identifier_for(ps.type, value, self.fp)))
                    del ps  # drop the object holding the raw value
        return hits

    def scan_value(self, value: str, key: str = "", detector: str = "Assigned secret") -> SecretHit:
        """A value known to be a secret (a CI variable, a Secret's data field): fingerprint
        the whole value, whatever detect-secrets thinks of it."""
        return SecretHit(detector, self.fp.fingerprint(value), hint(value), 0,
                         identifier_for(detector, value, self.fp), key or None)

"""SSH key fingerprints: ``SHA256:<base64, no padding>``, as ``ssh-keygen -lf``, GitHub,
GitLab and AWS show them. One function, so that a key registered on GitHub, the same key
uploaded to IAM and its private half found in a repository all carry the same handle
(correlation ties them by it)."""

from __future__ import annotations

import base64
import hashlib


def ssh_fingerprint(public_key: str | None) -> str | None:
    """The fingerprint of an OpenSSH public key line (``ssh-ed25519 AAAA... comment``);
    None for anything that is not one (hostile or truncated input is inert)."""
    parts = (public_key or "").strip().split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return None
    if len(blob) < 8:  # not even a key type's length prefix
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")

"""Secrets in, fingerprints out.

A raw secret value must never leave the process that read it. What we keep is:
- a *keyed* fingerprint, HMAC-SHA256 under a key that lives outside the inventory and
  the reports (created on first use, mode 0600). Keyed, so that someone holding a leaked
  report or inventory cannot confirm a guessed password by hashing it;
- a *hint*: at most a well-known public prefix and the last four characters, enough for
  a person to recognise which token it is.

``SecretScanner`` runs detect-secrets' own plugins and filters (text in, ``SecretHit``
out) but only on the lines that could possibly hold a finding. Why: detect-secrets runs
every plugin and every filter on every line (its ``is_indirect_reference`` line filter
and the keyword regex dominate), while in real files fewer than one line in twenty can
match anything. A *prefilter* (each plugin's literal anchors and own regexes, run over
the whole text) finds the candidate lines of each plugin; the per-line pipeline of
``detect_secrets.core.scan`` (line filters, plugins, secret filters, context filters)
then runs on those lines, with only the plugins that can match there, as
``detect-secrets scan`` would (file mode, not its eager ad-hoc mode). The prefilter is a
superset by construction (see ``_Prefilter``), so recall is unchanged.

On top of that, IaC-specific *noise filters* (``noise_reason``) and *structure-aware
recall* (``scan_pairs``: parsed key/value pairs, base64-wrapped PEM keys, whole PEM
blocks fingerprinted instead of their ``BEGIN`` line).

The detect-secrets ``PotentialSecret`` objects keep the raw value: they are dropped as
soon as they are fingerprinted, and never leave this module.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import os
import re
import secrets as _secrets
from collections import defaultdict
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Iterable

import ahocorasick

from scanner.core.fingerprints import ssh_fingerprint

# Public prefixes that identify a token's issuer; showing them reveals nothing secret.
KNOWN_PREFIXES = (
    "sk-ant-admin01-", "sk-ant-api03-", "sk-admin-", "sk-proj-", "sk-svcacct-", "ATATT", "ATCTT",
    "hvs.", "hvb.", "github_pat_", "glpat-", "gldt-", "glptt-", "glrt-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "xoxb-", "xoxp-", "xoxa-", "xapp-", "sk_live_", "sk_test_", "rk_live_", "AKIA", "ASIA",
    "AIza", "SG.", "npm_", "pypi-", "dop_v1_", "hf_", "-----BEGIN",
)

# AWS unique ids: a four-letter prefix, then 16 characters of base32 ([A-Z2-7]). Credential
# prefixes: AKIA long-term access key, ASIA temporary (STS) key, ABIA STS service bearer
# token, ACCA context-specific credential. Other ids: AGPA group, AIDA user, AROA role,
# ANPA managed policy, ANVA managed policy version, APKA public key.
AWS_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
AWS_ID_PREFIXES = AWS_KEY_PREFIXES + ("AGPA", "AIDA", "AROA", "ANPA", "ANVA", "APKA")
AWS_KEY_ID = re.compile(rf"\b((?:{'|'.join(AWS_ID_PREFIXES)})[A-Z2-7]{{16}})\b")
AWS_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9/+]{40}$")
# For *references* to an access key in code and state (not secrets): moto and AWS's own
# documentation examples (AKIAI44QH8DHBEXAMPLE) use digits outside base32, and a reference
# to such a key must still tie to it. Credential prefixes only: a user's AIDA id in a
# tfstate is not a key.
AWS_KEY_ID_LOOSE = re.compile(rf"(?<![A-Z0-9])((?:{'|'.join(AWS_KEY_PREFIXES)})[A-Z0-9]{{16}})(?![A-Z0-9])")

# Keys whose value is a secret whatever its shape (structure-aware recall).
SECRET_KEY_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|api_?key|apikey|private_?key|access_?key|"
    r"client_?secret|credential|auth_?key|signing_?key|bearer)s?"
    r"(?![-_]?(id|arn|name|path|file|ref|length|type|version|ttl|expir|policy|rotation|count|"
    r"enabled|url|uri|key_?id|manager|store|endpoint|field|format|usage|hint|prompt|reset))"
    r"(?![a-z])")
# Values that are references, not literals: interpolations, templates, env lookups.
NOT_LITERAL = re.compile(r"\$\{|\{\{|\$\(|^\$[A-Za-z_]|^<[^>]*>$|^(var|local|data|module)\.|"
                         r"^arn:|^(ref|valueFrom|secretKeyRef)\b|^!|^/|^\w+://[^:@]*$|^%\(",
                         re.IGNORECASE)
PLACEHOLDERS = re.compile(r"(?i)^(x+|\*+|\.+|-+|changeme|change[-_]?me|password|secret|"
                          r"redacted|placeholder|dummy|todo|tbd|none|null|nil|true|false|"
                          r"your[-_ ].*|<.*>|\[.*\]|\.\.\.)$")

# Noise that detect-secrets is known for on IaC (each has a test).
COMMIT_KEY = re.compile(r"(?i)\b(git[_-]?commit|git[_-]?sha|commit[_-]?(sha|id|hash)?|revision|"
                        r"source[_-]?version|image[_-]?digest|digest|checksum|sha1|sha256|etag|"
                        r"source_code_hash|hash)\b[\"']?\s*[:=]")
DOC_EXAMPLE_VALUES = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "AKIAI44QH8DHBEXAMPLE",
}
DOC_EXAMPLE_MARK = re.compile(r"EXAMPLE|(?i:^(example|sample|dummy|fake|test)[-_]?)")

PEM_BLOCK = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?-----END \1-----")
B64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=\s\\n]{40,}")

MAX_LINE_CHARS = 20_000  # a minified line longer than this is analysed on its first 20k chars


class KeyFileError(ValueError):
    """The fingerprint key file cannot be trusted (its message names the file and why)."""


def default_key_path() -> Path:
    """One key per user, outside any inventory folder: a copied inventory directory (or a
    backup of it) does not carry the key that its fingerprints were made with."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "residual" / "fingerprint.key"


def read_key_file(p: Path) -> bytes:
    """The key's bytes, or KeyFileError when the file cannot be trusted (see from_file)."""
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KeyFileError(f"fingerprint key {p}: cannot be opened ({exc.strerror}; "
                           "a symlink is refused)") from None
    with os.fdopen(fd) as fh:
        st = os.fstat(fh.fileno())
        if st.st_mode & 0o077:
            raise KeyFileError(f"fingerprint key {p}: readable or writable by group or others "
                               f"(mode {st.st_mode & 0o777:o}): chmod 600 it, or rotate it")
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise KeyFileError(f"fingerprint key {p}: owned by another user (uid {st.st_uid})")
        text = fh.read().strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"fingerprint key {p}: not a hex key") from None


class Fingerprinter:
    """Keyed fingerprints. One key per installation, kept outside the inventory folder."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("fingerprint key too short")
        self._key = key

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "Fingerprinter":
        """The key at ``path``, created (0600) on first use. A key someone else could have
        planted or read is refused (KeyFileError): readable or writable by group or
        others, not owned by this user, or a symlink. A planted key would let its author
        confirm guesses of low-entropy secrets from their fingerprints."""
        p = Path(path)
        if not p.exists() and not p.is_symlink():
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = p.with_name(f".{p.name}.{os.getpid()}.{_secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(_secrets.token_hex(32) + "\n")
            try:  # whole or not at all: a concurrent first scan reads one key, never half
                os.link(tmp, p)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls(read_key_file(p))

    def fingerprint(self, value: str | bytes) -> str:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:40]

    def redacted(self, shown: str) -> str:
        """Correlation handle for tokens that providers list by a redacted form (OpenAI's
        ``redacted_value``, Anthropic's ``partial_key_hint``): keyed like ``last8``. The
        collector hashes the form the API shows; ``identifier_for`` the same form computed
        from an exposed value (``provider_redaction``)."""
        return "redacted:" + self.fingerprint("redacted:" + shown)

    def last8(self, token: str) -> str:
        """Correlation handle for tokens that providers identify by their last eight
        characters (GitHub's token_last_eight): keyed, so the inventory never holds them."""
        return "last8:" + self.fingerprint("last8:" + token[-8:])

    @property
    def key_id(self) -> str:
        """A public handle of the key (caches keyed by it go stale when the key changes)."""
        return self.fingerprint("residual:key-id")[:16]


# a path segment that reads like a token (hooks.slack.com/services/T0/B0/<secret>)
_TOKENISH = re.compile(r"^(?=[^/]*[0-9])(?=[^/]*[a-z])(?=[^/]*[A-Z])[A-Za-z0-9_\-]{20,}$")


def safe_url(url: str) -> str:
    """A URL as residual may store or show it: scheme, host, port and path. Userinfo
    (``user:password@``), the query (``?token=``, a signature) and the fragment
    (``#access_token=``) are where credentials ride; they are dropped, and a path segment
    that reads like a token (a Slack or Teams webhook's secret part) becomes ``***``."""
    from urllib.parse import urlsplit
    try:
        u = urlsplit(str(url))
        host = u.hostname or ""
        port = f":{u.port}" if u.port else ""
    except ValueError:
        return "(unparseable URL)"
    if not u.scheme and not host:  # a local path
        return str(url).split("?", 1)[0].split("#", 1)[0]
    path = u.path if u.scheme == "file" else \
        "/".join("***" if _TOKENISH.match(seg) else seg for seg in u.path.split("/"))
    host = f"[{host}]" if ":" in host else host
    return f"{u.scheme}://{host}{port}{path}"


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
    verified: str | None = None  # valid / invalid after opt-in live verification


def ssh_public_fingerprint(pem: str) -> str | None:
    """``SHA256:...`` of the public half of a private key (what GitHub/GitLab show for SSH
    and deploy keys), so an exposed private key can be tied to a registered key. Needs the
    ``cryptography`` package (present with boto3/moto); None if unavailable or encrypted."""
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # pragma: no cover
        return None
    data = pem.encode()
    key = None
    for loader in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            key = loader(data, password=None)
            break
        except Exception:  # noqa: BLE001 - wrong format, encrypted, unsupported: no handle
            continue
    if key is None:
        return None
    try:
        blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH)
    except Exception:  # noqa: BLE001 - e.g. DSA/PGP keys with no OpenSSH form
        return None
    return ssh_fingerprint(blob.decode())


OPENAI_KEY = re.compile(r"^sk-(?:(admin|proj|svcacct)-)?[A-Za-z0-9_-]{20,}$")
ANTHROPIC_KEY = re.compile(r"^(sk-ant-(?:api|admin)\d\d-)[A-Za-z0-9_-]{20,}$")


def provider_redaction(value: str) -> str | None:
    """The redacted form under which the provider's admin API lists this key, or None:
    OpenAI ``sk-admin...`` + the last 3 (admin keys), ``sk-proj-``/``sk-svcacct-`` + 3 +
    ``...`` + the last 3; Anthropic the prefix + 3 + ``...`` + the last 4."""
    v = value.strip()
    m = ANTHROPIC_KEY.match(v)
    if m:
        p = m.group(1)
        return f"{p}{v[len(p):len(p) + 3]}...{v[-4:]}"
    m = OPENAI_KEY.match(v)
    if m and "T3BlbkFJ" in v or m and m.group(1):
        if m.group(1) == "admin":
            return f"sk-admin...{v[-3:]}"
        p = f"sk-{m.group(1)}-" if m.group(1) else "sk-"
        return f"{p}{v[len(p):len(p) + 3]}...{v[-3:]}"
    return None


def identifier_for(detector: str, value: str, fp: Fingerprinter) -> str | None:
    """A non-secret handle that lets an exposure be tied to a live credential."""
    m = AWS_KEY_ID.search(value)
    if m:
        return m.group(1)
    shown = provider_redaction(value)
    if shown:
        return fp.redacted(shown)
    if value.startswith(("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")):
        return fp.last8(value)
    if "PRIVATE KEY" in value and "-----BEGIN" in value:
        return ssh_public_fingerprint(value)
    return None


def noise_reason(detector: str, value: str, line: str) -> str | None:
    """Why a detect-secrets hit is IaC noise, or None. Each reason is tested."""
    v = value.strip().strip("'\"")
    if v in DOC_EXAMPLE_VALUES or DOC_EXAMPLE_MARK.search(v):
        return "documentation example"
    if detector == "Hex High Entropy String" and COMMIT_KEY.search(line):
        return "commit/digest hash"
    if detector in ("Hex High Entropy String", "Base64 High Entropy String") and \
            re.fullmatch(r"(sha256:|sha512-|sha1-)?[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", v) and \
            re.search(r"(?i)(sha|digest|hash|commit|checksum|integrity)", line):
        return "commit/digest hash"
    return None


# --- the fast path: prefilter + detect-secrets' own per-line pipeline -----------------


class _Prefilter:
    """Finds, per plugin, every line on which that detect-secrets plugin could report.

    Superset by construction (tests/test_secrets.py checks it against ``scan_file``):
    - regex plugins: literal *anchors* that every match must contain (``ANCHORS``, all
      of every plugin found in one Aho-Corasick pass over the text, and one over its
      lower-cased form for the case-insensitive ones) or a cheap necessary regex (``ANCHOR_REGEXES``), then the
      plugin's own regexes on those lines only; plugins not listed there: their own
      regexes over the whole text (MULTILINE, so ``^``/``$`` keep their per-line meaning,
      restarting at the next line after each match so no match can hide another);
    - the keyword plugin: one of its denylist words;
    - the high-entropy plugins: a quoted run of their charset long enough to pass their
      entropy limit (Shannon entropy <= log2(distinct symbols): base64 > 4.5 needs >= 23
      characters and one that is not a hex digit, hex > 3.0 needs >= 9).
    """

    def __init__(self) -> None:
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.plugins.high_entropy_strings import (
            Base64HighEntropyString, HexHighEntropyString)
        from detect_secrets.plugins.keyword import DENYLIST, KeywordDetector
        from detect_secrets.settings import get_plugins

        # (index of the plugin in get_plugins(), pattern): a line is a candidate *for that
        # plugin* only, so the per-line pipeline runs one or two plugins, not all 27.
        self.patterns: list[tuple[int, re.Pattern[str]]] = []
        self.anchors: list[tuple[int, bool, list[list[str]]]] = []
        self.exact: dict[int, list[re.Pattern[str]]] = {}  # plugin -> its own line regexes
        self.cheap: list[tuple[int, re.Pattern[str]]] = []  # necessary-condition regexes
        self.hex_index = -1
        # needle -> the (anchor, group) slots it stands for, one automaton per case mode
        self._slots: dict[bool, dict[str, list[tuple[int, int]]]] = {True: {}, False: {}}
        for i, plugin in enumerate(get_plugins()):
            name = type(plugin).__name__
            if name in ANCHORS:
                case_sensitive, groups = ANCHORS[name]
                for g, group in enumerate(groups):
                    for needle in group:
                        word = needle if case_sensitive else needle.lower()
                        self._slots[case_sensitive].setdefault(word, []).append(
                            (len(self.anchors), g))
                self.anchors.append((i, case_sensitive, groups))
                if isinstance(plugin, RegexBasedDetector):
                    self.exact[i] = list(plugin.denylist)
            elif name in ANCHOR_REGEXES and isinstance(plugin, RegexBasedDetector):
                self.cheap.append((i, re.compile(ANCHOR_REGEXES[name])))
                self.exact[i] = list(plugin.denylist)
            elif isinstance(plugin, RegexBasedDetector):
                for rx in plugin.denylist:
                    self.patterns.append((i, re.compile(rx.pattern, rx.flags | re.MULTILINE)))
            elif isinstance(plugin, KeywordDetector):
                self.patterns.append((i, re.compile(rf"(?i:{'|'.join(DENYLIST)})")))
            elif isinstance(plugin, HexHighEntropyString):
                self.hex_index = i
                self.patterns.append((i, re.compile(r"""["'][0-9a-fA-F]{8,}["']""")))
            elif isinstance(plugin, Base64HighEntropyString):
                # a run of hex digits only (22 symbols) has entropy <= log2(22) < 4.5:
                # it needs one base64 character that is not a hex digit
                self.patterns.append((i, re.compile(
                    r"""["'](?=[A-Za-z0-9+/=\\_-]{23,}["'])[0-9a-fA-F]*[g-zG-Z+/=\\_-]""")))
            else:  # an unknown plugin: every line is a candidate for it
                self.patterns.append((i, re.compile(r"(?m)^")))
        self._automata: dict[bool, ahocorasick.Automaton] = {}
        for case_sensitive, slots in self._slots.items():
            auto = ahocorasick.Automaton()
            for word, where in slots.items():
                auto.add_word(word, (len(word), where))
            auto.make_automaton()
            self._automata[case_sensitive] = auto

    def _anchor_lines(self, text: str, starts: list[int]) -> dict[tuple[int, int], set[int]]:
        """(anchor, group) -> the lines holding one of that group's literals: every
        literal of every plugin in one Aho-Corasick pass (C) per case mode, instead of a
        ``str.find`` pass over the whole text per literal."""
        out: dict[tuple[int, int], set[int]] = defaultdict(set)
        for case_sensitive, auto in self._automata.items():
            hay, hs = (text, starts) if case_sensitive else (text.lower(), None)
            if hs is None:
                hs = starts if len(hay) == len(text) else line_starts(hay)
            bis = bisect.bisect_right
            for end, (length, where) in auto.iter(hay):
                ln = bis(hs, end - length + 1)
                for slot in where:
                    out[slot].add(ln)
        return out

    def lines(self, text: str, starts: list[int]) -> dict[int, set[int]]:
        """line number -> indexes of the plugins that could report on it."""
        out: dict[int, set[int]] = {}
        n = len(text)
        for idx, pat in self.patterns:
            pos = 0
            while pos < n:
                m = pat.search(text, pos)
                if not m:
                    break
                first = bisect.bisect_right(starts, m.start())
                last = bisect.bisect_right(starts, max(m.start(), m.end() - 1))
                for ln in range(first, last + 1):
                    out.setdefault(ln, set()).add(idx)
                pos = starts[first] if first < len(starts) else n  # next line's start
        found_by: list[tuple[int, set[int] | None]] = []
        slot_lines = self._anchor_lines(text, starts)
        for a, (idx, _case_sensitive, groups) in enumerate(self.anchors):
            lines: set[int] | None = None
            for g in range(len(groups)):  # a line must hold one literal of every group
                found = slot_lines.get((a, g), set())
                lines = found if lines is None else lines & found
                if not lines:
                    break
            found_by.append((idx, lines))
        for idx, rx in self.cheap:  # a match never spans lines: finditer is exact enough
            found_by.append((idx, {bisect.bisect_right(starts, m.start()) for m in rx.finditer(text)}))
        for idx, lines in found_by:
            exact = self.exact.get(idx)
            for ln in lines or ():
                if exact is not None:  # the plugin's own regexes, on that line only
                    line = text[starts[ln - 1]:starts[ln] - 1 if ln < len(starts) else n]
                    if not any(rx.search(line) for rx in exact):
                        continue
                out.setdefault(ln, set()).add(idx)
        return out


# Necessary-condition regexes with a literal start, for plugins with no useful literal:
# an IPv4 address holds ".d." (".1." in 10.1.2.3); a Telegram token ":" and 35 characters;
# a Discord bot token "." and 6 token characters and ".".
ANCHOR_REGEXES = {
    "IPPublicDetector": r"\.\d{1,3}\.",
    "TelegramBotTokenDetector": r":[0-9A-Za-z_-]{35}",
    "DiscordBotTokenDetector": r"\.[a-zA-Z\d_-]{6}\.",  # its ".XXXXXX." middle part
}

_KW = ["key", "pwd", "pw", "pass", "token"]
# Per plugin: (case sensitive?, groups of literals; a line must hold one literal of every
# group). Each is a necessary condition of that plugin's regexes (read from detect-secrets
# 1.5.0's plugins/); the regexes themselves are slow in Python's engine for want of a
# literal prefix. test_prefilter_* checks the result against detect-secrets' scan_file.
ANCHORS: dict[str, tuple[bool, list[list[str]]]] = {
    "ArtifactoryDetector": (True, [["AKC", "AP"]]),
    "AWSKeyDetector": (False, [["akia", "asia", "abia", "acca", "a3t", "aws"]]),
    "AzureStorageKeyDetector": (False, [["accountkey="]]),
    "BasicAuthDetector": (True, [["://"]]),
    "CloudantDetector": (False, [["cl"], _KW + ["cloudant.com"]]),
    "GitHubTokenDetector": (True, [["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]]),
    "GitLabTokenDetector": (True, [["glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941",
                                    "glcbt-", "glimt-", "glptt-", "glagent-"]]),
    "IbmCloudIamDetector": (False, [_KW]),
    "IbmCosHmacDetector": (False, [["secret"], ["key"]]),
    "JwtTokenDetector": (True, [["eyJ"]]),
    "MailchimpDetector": (True, [["-us"]]),
    "NpmDetector": (True, [["_authToken="]]),
    "OpenAIDetector": (True, [["T3BlbkFJ"]]),
    "AnthropicKeyDetector": (True, [["sk-ant-"]]),
    "AtlassianApiTokenDetector": (True, [["ATATT3"]]),
    "VaultTokenDetector": (True, [["hvs.", "hvb."]]),
    "PrivateKeyDetector": (True, [["PRIVATE KEY"]]),
    "PypiTokenDetector": (True, [["pypi-"]]),
    "SendGridDetector": (True, [["SG."]]),
    "SlackDetector": (True, [["xox", "hooks.slack.com"]]),
    "SoftlayerDetector": (False, [["sl", "softlayer"], _KW + ["softlayer.com"]]),
    "SquareOAuthDetector": (True, [["sq0csp-"]]),
    "StripeDetector": (True, [["k_live_"]]),
    "TwilioKeyDetector": (True, [["AC", "SK"]]),
    "KeywordDetector": (False, [["api_key", "apikey", "auth_key", "authkey", "service_key",
                                 "servicekey", "account_key", "accountkey", "db_key", "dbkey",
                                 "database_key", "databasekey", "priv_key", "privkey",
                                 "private_key", "privatekey", "client_key", "clientkey",
                                 "db_pass", "dbpass", "database_pass", "databasepass",
                                 "key_pass", "keypass", "password", "passwd", "pwd", "secret",
                                 "contraseña", "contrasena"]]),
}


class _Engine:
    """detect-secrets configured once per process (all plugins, default filters)."""

    _instance: "_Engine | None" = None

    def __init__(self) -> None:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.settings import cache_bust, configure_settings_from_baseline

        # what detect_secrets.settings.default_settings() sets, for the life of the process
        cache_bust()
        custom = Path(__file__).with_name("secret_plugins.py")
        own = ("AnthropicKeyDetector", "AtlassianApiTokenDetector", "VaultTokenDetector")
        configure_settings_from_baseline({"plugins_used": [
            {"name": cls.__name__} for cls in get_mapping_from_secret_type_to_class().values()
            if cls.__name__ not in own] + [{"name": n, "path": f"file://{custom}"} for n in own]})
        get_mapping_from_secret_type_to_class.cache_clear()  # now with the custom plugins
        from detect_secrets.core import scan as ds_scan
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.settings import get_plugins
        from detect_secrets.util.code_snippet import get_code_snippet

        from detect_secrets.util.inject import get_injectable_variables

        self.plugins = list(get_plugins())
        self.scan_mod = ds_scan
        self.snippet = get_code_snippet
        self.prefilter = _Prefilter()
        self.regex_based = RegexBasedDetector
        # each plugin's analyze_line and the names it takes (what detect-secrets'
        # call_function_with_arguments injects, found once instead of on every call)
        self._analyzers = [(p.analyze_line, frozenset(get_injectable_variables(p.analyze_line)) - {"self"})
                           for p in self.plugins]
        self._filters_of: object = None
        self._filters: dict[str, list[tuple[object, frozenset[str]]]] = {}

    def _filter_lists(self) -> dict[str, list[tuple[object, frozenset[str]]]]:
        """detect-secrets' filters per required parameter (``get_filters_with_parameter``),
        recomputed whenever its settings change (``get_filters`` is cached until then)."""
        from detect_secrets.settings import get_filters

        current = get_filters()
        if current is not self._filters_of:
            self._filters = {p: [(_allowlist_guard(f), frozenset(f.injectable_variables))
                                 for f in self.scan_mod.get_filters_with_parameter(p)]
                             for p in ("line", "secret", "context")}
            self._filters_of = current
        return self._filters

    @staticmethod
    def _filtered_out(filters: list[tuple[object, frozenset[str]]], **kwargs: object) -> bool:
        """``detect_secrets.core.scan._is_filtered_out`` with the filters' parameters known:
        each filter gets the arguments it names; one that raises TypeError is skipped."""
        for fn, names in filters:
            try:
                if fn(**{k: v for k, v in kwargs.items() if k in names}):  # type: ignore[operator]
                    return True
            except TypeError:
                pass
        return False

    @classmethod
    def get(cls) -> "_Engine":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def scan_line(self, lines: list[str], lineno: int, line: str, filename: str,
                  plugins: Iterable[int] | None = None) -> Iterable[tuple[str, str]]:
        """(detector type, raw value) for one line, through detect-secrets' own line
        filters, plugins, secret filters and context filters (as ``scan_file`` does)."""
        # detect_secrets.core.scan's _process_line_based_plugins and _scan_line, step by
        # step, with its dependency injection resolved once (_filter_lists, _analyzers):
        # call_function_with_arguments was a third of the time spent per candidate line
        filters = self._filter_lists()
        drop = self._filtered_out
        line = line.rstrip()[:MAX_LINE_CHARS]
        snippet = self.snippet(lines=lines, line_number=lineno)
        if drop(filters["line"], filename=filename, line=line, context=snippet):
            return
        given = {"filename": filename, "line": line, "line_number": lineno, "context": snippet}
        for i in (range(len(self.plugins)) if plugins is None else sorted(plugins)):
            plugin = self.plugins[i]
            analyze, names = self._analyzers[i]
            found = analyze(**{k: v for k, v in given.items() if k in names})
            for ps in found or ():
                if drop(filters["secret"], filename=ps.filename, secret=ps.secret_value,
                        plugin=plugin, line=line):
                    continue
                if not drop(filters["context"], filename=ps.filename, secret=ps.secret_value,
                            plugin=plugin, line=line, context=snippet):
                    value = ps.secret_value or ""
                    ps.secret_value = None  # drop the raw value from detect-secrets' object
                    if isinstance(plugin, self.regex_based) and len(value) < 16:
                        value = self._whole_match(plugin, line, value)
                    if ps.type == "OpenAI Token":  # its pattern stops 20 characters after
                        value = _whole_token(line, value)  # T3BlbkFJ: the key goes on
                    yield ps.type, value

    @staticmethod
    def _whole_match(plugin, line: str, value: str) -> str:
        """Regex plugins report their first group when the pattern has one (GitHub's
        ``(ghp|gho|...)_...`` yields ``ghp``): fingerprint the whole token instead."""
        for rx in plugin.denylist:
            for m in rx.finditer(line):
                if value in m.groups() and len(m.group(0)) > len(value):
                    return m.group(0)
        return value


def _allowlist_guard(fn):
    """detect-secrets' ``is_line_allowlisted`` runs 12 regexes per line, each requiring the
    literal ``pragma:`` on the line or the line before: checked first with ``in``. Only
    when every one of its regexes holds that literal (else ``fn`` itself)."""
    from detect_secrets.filters import allowlist

    if fn is not allowlist.is_line_allowlisted:
        return fn
    try:
        patterns = [allowlist.get_allowlist_regexes(comment_tuple=t, nextline=n).pattern
                    for t in allowlist._get_comment_tuples() for n in (False, True)]
    except Exception:  # noqa: BLE001 - another detect-secrets: no shortcut
        return fn
    if not patterns or not all("pragma:" in p for p in patterns):
        return fn

    def is_line_allowlisted(filename: str, line: str, context) -> bool:
        if "pragma:" not in line and "pragma:" not in context.previous_line:
            return False
        return fn(filename=filename, line=line, context=context)
    return is_line_allowlisted


def _whole_token(line: str, value: str) -> str:
    """``value`` extended to the token characters that follow it on ``line``."""
    i = line.find(value)
    if i < 0:
        return value
    m = re.compile(r"[A-Za-z0-9_-]*").match(line, i + len(value))
    return value + (m.group(0) if m else "")


_LAST_STARTS: tuple[str, list[int]] = ("", [0])


def line_starts(text: str) -> list[int]:
    """Offset of each line's first character (do not modify the list: the last text's is
    kept, since the secret scan and the reference scan of one file both ask)."""
    global _LAST_STARTS
    last = _LAST_STARTS  # one tuple: read and replaced atomically
    if last[0] is text:
        return last[1]
    starts = [0]  # each line's start is the previous one's + its length + 1 (all in C)
    starts.extend(accumulate(map((1).__add__, map(len, text.split("\n")))))
    starts.pop()
    _LAST_STARTS = (text, starts)
    return starts


class SecretScanner:
    """Text in, fingerprinted SecretHits out, through detect-secrets' plugins."""

    def __init__(self, fingerprinter: Fingerprinter, noise_filters: bool = True,
                 verifier=None):
        self.fp = fingerprinter
        self.noise_filters = noise_filters
        self.filtered: dict[str, int] = {}  # noise filter name -> hits dropped
        # opt-in live verification (collectors/iac/verify.py): raw values of the current
        # file are kept here, in this process only, until verify_pending() drops them
        self.verifier = verifier
        self._pending: list[tuple[str, SecretHit]] = []

    def verify_pending(self) -> None:
        """Ask the identity endpoints about this file's hits, then forget the values."""
        pending, self._pending = self._pending, []
        if self.verifier is None:
            return
        secrets = [(h.line, v) for v, h in pending if AWS_SECRET_SHAPE.match(v)]
        for value, h in pending:
            if h.verified:
                continue
            if h.identifier and AWS_KEY_ID.fullmatch(h.identifier) and value == h.identifier:
                near = sorted((abs(line - h.line), v) for line, v in secrets if abs(line - h.line) <= 5)
                if near:
                    h.verified = self.verifier.aws_pair(h.identifier, near[0][1])
            else:
                h.verified = self.verifier.token(value.strip())
        del pending, secrets

    # -- public API -------------------------------------------------------------------
    def scan_text(self, text: str, path: str = "") -> list[SecretHit]:
        """Every secret in a text, by line (1-based)."""
        hits: list[SecretHit] = []
        seen: set[tuple[int, str]] = set()
        if not text:
            return hits
        engine = _Engine.get()
        starts = line_starts(text)
        lines = text.split("\n")
        candidates = engine.prefilter.lines(text, starts)
        for lineno in sorted(candidates):
            if lineno > len(lines):
                continue
            line = lines[lineno - 1]
            plugins = candidates[lineno]
            if self.noise_filters and engine.prefilter.hex_index in plugins and COMMIT_KEY.search(line):
                # any hex hit here is a commit/digest hash (noise_reason drops it anyway)
                plugins = plugins - {engine.prefilter.hex_index}
                self.filtered["commit/digest hash"] = self.filtered.get("commit/digest hash", 0) + 1
                if not plugins:
                    continue
            for detector, value in engine.scan_line(lines, lineno, line, path or "text", plugins):
                if detector == "Private Key":
                    value = self._pem_block(text, starts[lineno - 1]) or value
                self._add(hits, seen, detector, value, lineno, line)
        self._b64_pems(text, starts, hits, seen)
        return hits

    def scan_pairs(self, pairs: Iterable[tuple[int, str, str]], lines: list[str],
                   path: str = "", known: Iterable[SecretHit] = ()) -> list[SecretHit]:
        """Parsed (line, key, value) pairs: each as the ``key: "value"`` line
        detect-secrets' YAML/INI transformers would have made (so unquoted YAML values get
        the high-entropy plugins), and, where the key names a secret and the value is a
        literal, the value itself ("Secret keyword"). Lines already holding a hit in
        ``known`` are not reported twice."""
        engine = _Engine.get()
        hits: list[SecretHit] = []
        seen = {(h.line, h.fingerprint) for h in known}
        busy = {h.line for h in known}
        pairs = [(ln, k, v) for ln, k, v in pairs
                 if isinstance(v, str) and v and len(v) <= MAX_LINE_CHARS and "\n" not in v]
        synthetic_lines = [f'{key}: "{value}"' for _ln, key, value in pairs]
        joined = "\n".join(synthetic_lines)
        cands = engine.prefilter.lines(joined, line_starts(joined)) if joined else {}
        for i, (lineno, key, value) in enumerate(pairs, start=1):
            synthetic = synthetic_lines[i - 1]
            found = False
            if i in cands:
                for detector, raw in engine.scan_line(lines, max(1, lineno), synthetic,
                                                      path or "text", cands[i]):
                    found |= self._add(hits, seen, detector, raw, lineno, synthetic, key)
            if not found and lineno not in busy and self.is_assigned_secret(key, value):
                found = self._add(hits, seen, "Secret Keyword", value, lineno, synthetic, key)
            if found:
                busy.add(lineno)
        return hits

    def scan_value(self, value: str, key: str = "", detector: str = "Assigned secret") -> SecretHit:
        """A value known to be a secret (a CI variable, a Secret's data field): fingerprint
        the whole value, whatever detect-secrets thinks of it."""
        hit = SecretHit(detector, self.fp.fingerprint(value), hint(value), 0,
                        identifier_for(detector, value, self.fp), key or None)
        if self.verifier is not None:
            self._pending.append((value, hit))
        return hit

    @staticmethod
    def is_assigned_secret(key: str, value: str) -> bool:
        """A parsed value whose key names a secret and which is a literal, not a reference
        or a placeholder."""
        v = value.strip()
        return bool(len(v) >= 8 and " " not in v and SECRET_KEY_NAME.search(key or "")
                    and not NOT_LITERAL.search(v) and not PLACEHOLDERS.match(v))

    # -- helpers -----------------------------------------------------------------------
    def _add(self, hits: list[SecretHit], seen: set[tuple[int, str]], detector: str,
             value: str, lineno: int, line: str, key: str | None = None) -> bool:
        if not value:
            return False
        if self.noise_filters:
            reason = noise_reason(detector, value, line)
            if reason:
                self.filtered[reason] = self.filtered.get(reason, 0) + 1
                return False
        fp = self.fp.fingerprint(value)
        if (lineno, fp) in seen:
            return False
        seen.add((lineno, fp))
        hit = SecretHit(detector, fp, hint(value), lineno, identifier_for(detector, value, self.fp), key)
        hits.append(hit)
        if self.verifier is not None:
            self._pending.append((value, hit))
        return True

    @staticmethod
    def _pem_block(text: str, offset: int) -> str | None:
        m = PEM_BLOCK.search(text, max(0, offset - 200))
        return m.group(0) if m and m.start() < offset + 4000 else None

    def _b64_pems(self, text: str, starts: list[int], hits: list[SecretHit],
                  seen: set[tuple[int, str]]) -> None:
        """base64-wrapped PEM keys (Kubernetes Secrets, kubeconfig client-key-data)."""
        for m in B64_PEM.finditer(text):
            blob = re.sub(r"\s|\\n", "", m.group(0))
            try:
                decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                continue
            pem = PEM_BLOCK.search(decoded)
            if pem:
                lineno = bisect.bisect_right(starts, m.start())
                self._add(hits, seen, "Private Key (base64)", pem.group(0), lineno, "")

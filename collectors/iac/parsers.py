"""Per-format parsers: text in, references and secrets out (pure functions).

``analyze(path, text, scanner)`` is the one entry point. Every text is scanned line by
line (detect-secrets through ``SecretScanner``) and searched for e-mails, IAM ARNs and
AWS key ids; where a parser exists for its format it adds what a line scanner is blind
to: handles in structured places (Terraform usernames, RBAC subjects, CODEOWNERS owners),
whether the file would *create* an account or access, and key/value pairs for secret
recall. A parser that fails leaves the line results standing and records the reason.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from pathlib import PurePosixPath
from typing import Any, Callable, Iterator

import yaml

from collectors.iac import hcl
from collectors.iac.agents import config_kind, parse_agent_config
from collectors.iac.facts import FileFacts, RefFact
from scanner.core.secrets import (
    AWS_KEY_ID_LOOSE, AWS_KEY_PREFIXES, SECRET_KEY_NAME, SecretHit, SecretScanner, line_starts,
)

EMAIL = re.compile(r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
ARN = re.compile(r"\b(arn:aws[a-z-]*:(?:iam|sts)::\d{12}:(?:user|role|group|assumed-role|root)"
                 r"(?:/[A-Za-z0-9+=,.@_-]+)*)")
NOT_PEOPLE = ("git@", "noreply", "no-reply", "donotreply", "@users.noreply.")
HANDLE = re.compile(r"^[^\s\"'`{}()$<>\\,;*]{1,100}$")  # logins may be non-ASCII (Okta, GitLab)

# Terraform resources that create an account or grant access to a named person.
# type -> (system, attributes that name the person)
TF_RECREATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws_iam_user": ("aws", ("name",)),
    "aws_iam_access_key": ("aws", ("user",)),
    "aws_iam_user_ssh_key": ("aws", ("username",)),
    "aws_iam_user_login_profile": ("aws", ("user",)),
    "aws_iam_user_policy": ("aws", ("user",)),
    "aws_iam_user_policy_attachment": ("aws", ("user",)),
    "aws_iam_user_group_membership": ("aws", ("user",)),
    "aws_iam_group_membership": ("aws", ("users",)),
    "aws_iam_service_specific_credential": ("aws", ("user_name",)),
    "aws_iam_role": ("aws", ("assume_role_policy",)),
    "github_membership": ("github", ("username",)),
    "github_repository_collaborator": ("github", ("username",)),
    "github_team_membership": ("github", ("username",)),
    "github_user_ssh_key": ("github", ("title",)),
    "gitlab_user": ("gitlab", ("username", "email")),
    "gitlab_project_membership": ("gitlab", ("user_id", "username")),
    "gitlab_group_membership": ("gitlab", ("user_id", "username")),
    "kubernetes_role_binding": ("kubernetes", ()),  # subject names
    "kubernetes_cluster_role_binding": ("kubernetes", ()),  # subject names
    "kubernetes_role_binding_v1": ("kubernetes", ()),  # subject names
    "kubernetes_cluster_role_binding_v1": ("kubernetes", ()),  # subject names
    "okta_user": ("okta", ("login", "email")),
    "okta_app_user": ("okta", ("username",)),
}
CFN_RECREATES: dict[str, tuple[str, ...]] = {
    "AWS::IAM::User": ("UserName",),
    "AWS::IAM::AccessKey": ("UserName",),
    "AWS::IAM::UserToGroupAddition": ("Users",),
    "AWS::IAM::Role": ("AssumeRolePolicyDocument",),
    "AWS::IAM::Policy": ("Users",),
    "AWS::IAM::ManagedPolicy": ("Users",),
}
PERSON_KEYS = re.compile(r"(?i)^(user(name|_name|s)?|login|owner|email|assignee|members?)$")
SENSITIVE_TFSTATE = re.compile(r"(?i)(secret|password|private_key|token|_pem$|^encrypted_)")


DECODED = "Kubernetes Secret data"


class ParseError(Exception):
    """The file is not valid in its format; it is still scanned as lines."""


# --- file kinds ------------------------------------------------------------------------


def file_kind(path: str, text: str) -> str:
    p = PurePosixPath(path)
    name = p.name.lower()
    parts = [x.lower() for x in p.parts]
    if name.endswith((".tfstate", ".tfstate.backup")):
        return "tfstate"
    if name.endswith((".tf", ".tfvars", ".hcl")):
        return "terraform"
    if name == "codeowners":
        return "codeowners"
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return "dotenv"
    if name in (".gitlab-ci.yml", ".gitlab-ci.yaml") or \
            (".github" in parts and "workflows" in parts and name.endswith((".yml", ".yaml"))):
        return "ci"
    if name.endswith((".yml", ".yaml", ".template")) or name in ("config", "kubeconfig"):
        head = text[:4000]
        if "AWSTemplateFormatVersion" in head or re.search(r"Type:\s*['\"]?AWS::", text):
            return "cloudformation"
        if re.search(r"(?m)^kind:\s*Config\s*$", text) and "clusters:" in text:
            return "kubeconfig"
        if name.endswith((".yml", ".yaml")):
            return "yaml"  # Kubernetes manifests, Helm values, anything else YAML
        return "text"
    if name.endswith(".json"):
        if '"AWSTemplateFormatVersion"' in text[:4000] or '"AWS::' in text:
            return "cloudformation"
        return "json"
    return "text"


# --- entry point -------------------------------------------------------------------------


def analyze(path: str, text: str, scanner: SecretScanner) -> FileFacts:
    """Everything residual keeps about one text: references, secret hits, parse status."""
    kind = file_kind(path, text)
    facts = FileFacts(kind=kind)
    scanner.filtered = {}
    scanner._pending = []
    facts.hits = scanner.scan_text(text, path)
    facts.refs = list(generic_refs(text))
    parser = PARSERS.get(kind)
    if kind == "kubeconfig" and _kubeconfig_module() is not None:
        _from_kubeconfig_module(text, path, scanner, facts)
        parser = None
    if parser is not None:
        lines = text.split("\n")
        try:
            refs, pairs, values = parser(text, lines, path)
        except Exception as exc:  # noqa: BLE001 - any parser failure falls back to lines
            facts.parse_error = f"{kind}: {_reason(exc)}"
        else:
            facts.refs.extend(refs)
            facts.hits.extend(scanner.scan_pairs(pairs, lines, path, known=facts.hits))
            for lineno, key, value, detector, ident in values:
                if detector == DECODED:  # a decoded value replaces hits on its encoded form
                    facts.hits = [h for h in facts.hits if h.line != lineno]
                    inner = scanner.scan_text(value, path)
                    for h in inner:
                        h.line, h.key = lineno, key
                    if inner:
                        facts.hits.extend(inner)
                        continue
                hit = scanner.scan_value(value, key, detector)
                hit.line = lineno
                hit.identifier = ident or hit.identifier
                same_line = [h for h in facts.hits if h.line == lineno]
                if not same_line:
                    facts.hits.append(hit)
                for h in same_line:  # detect-secrets saw it first: keep its detector
                    h.identifier = h.identifier or hit.identifier
    if config_kind(path):
        try:
            facts.agents = parse_agent_config(text, path)
        except ValueError as exc:
            facts.parse_error = facts.parse_error or f"agent config: {exc}"
    facts.refs = _dedupe_refs(facts.refs)
    facts.filtered = dict(scanner.filtered)
    if scanner.verifier is not None:
        before = scanner.verifier.calls
        scanner.verify_pending()
        facts.verify_calls = scanner.verifier.calls - before
    return facts


def _kubeconfig_module():
    """The Kubernetes part's pure kubeconfig reader, if present (one place knows kubeconfig)."""
    try:  # deferred: another source's package, optional here (parse_kubeconfig is the fallback)
        from collectors.kubernetes import kubeconfig
    except Exception:  # noqa: BLE001 - absent or broken: parse_kubeconfig below does it
        return None
    return kubeconfig if hasattr(kubeconfig, "kubeconfig_records") else None


def _from_kubeconfig_module(text: str, path: str, scanner: SecretScanner, facts: FileFacts) -> None:
    kc = _kubeconfig_module()
    try:
        exposures, references = kc.kubeconfig_records(text, path, "iac:kubeconfig", scanner.fp)
    except Exception as exc:  # noqa: BLE001 - KubeconfigError or a bug: lines stand
        facts.parse_error = f"kubeconfig: {_reason(exc)}"
        return
    known = {(h.line, h.fingerprint) for h in facts.hits}
    for e in exposures:
        if (e.line, e.fingerprint) not in known and not any(h.line == e.line for h in facts.hits):
            facts.hits.append(SecretHit(e.detector, e.fingerprint, e.hint, e.line or 0,
                                        e.identifier, e.context or None))
    for r in references:
        kind = "email" if "@" in r.matched else "arn" if r.matched.startswith("arn:") else "handle"
        facts.refs.append(RefFact(r.line or 0, r.matched, kind, "kubernetes" if kind != "arn" else "aws",
                                  f"kubeconfig {r.context}".strip(), False, "kubeconfig", ""))


def _reason(exc: BaseException) -> str:
    """The error's class, line and column, and nothing of its message: a parser's message
    quotes the file (a heredoc password, a private key's body), and parse errors are
    stored, logged and exported. ``ParseError`` messages are our own words."""
    if isinstance(exc, ParseError):
        return str(exc)[:200]
    line, col = getattr(exc, "line", None), getattr(exc, "column", None)
    if line is None:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    mark = getattr(exc, "problem_mark", None)
    if mark is not None and isinstance(getattr(mark, "line", None), int):
        line, col = mark.line + 1, mark.column + 1
    where = f" at line {line}" if isinstance(line, int) and line > 0 else ""
    where += f", column {col}" if where and isinstance(col, int) and col > 0 else ""
    return f"{exc.__class__.__name__}{where}"


def _dedupe_refs(refs: list[RefFact]) -> list[RefFact]:
    """One reference per (line, matched text); structured ones beat bare regex ones."""
    best: dict[tuple[int, str], RefFact] = {}
    for r in refs:
        k = (r.line, r.matched.casefold())
        prev = best.get(k)
        if prev is None or (r.recreates and not prev.recreates) or (r.context and not prev.context):
            best[k] = r
    return sorted(best.values(), key=lambda r: (r.line, r.matched))


def generic_refs(text: str) -> Iterator[RefFact]:
    """E-mails, IAM ARNs and AWS key ids anywhere in a text, with their line."""
    # Each regex runs only on the lines holding its literal anchor (str.find is C-fast;
    # these regexes have no literal prefix for Python's engine to skip ahead with).
    starts: list[int] | None = None
    for rx, kind, system, anchors in ((EMAIL, "email", None, ("@",)),
                                      (ARN, "arn", "aws", ("arn:aws",)),
                                      (AWS_KEY_ID_LOOSE, "aws_key_id", "aws",
                                       AWS_KEY_PREFIXES)):
        if not any(a in text for a in anchors):
            continue
        if starts is None:
            starts = _starts(text)
        lines_seen: set[int] = set()
        for a in anchors:
            i = text.find(a)
            while i >= 0:
                ln = _line_at(starts, i)
                if ln not in lines_seen:
                    lines_seen.add(ln)
                    begin = starts[ln - 1]
                    end = starts[ln] - 1 if ln < len(starts) else len(text)
                    for m in rx.finditer(text, begin, end):
                        value = m.group(1)
                        if kind == "email" and any(x in value.lower() for x in NOT_PEOPLE):
                            continue
                        yield RefFact(ln, value, kind, system)
                i = text.find(a, starts[ln]) if ln < len(starts) else -1


def _starts(text: str) -> list[int]:
    return line_starts(text)


def _line_at(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset)


def _line_of(lines: list[str], needle: str, start: int = 1, default: int | None = None,
             stop: int | None = None) -> int:
    """1-based line of the first line at or after ``start`` (and before ``stop``)
    containing ``needle``."""
    for i in range(max(0, start - 1), len(lines) if stop is None else min(len(lines), stop - 1)):
        if needle in lines[i]:
            return i + 1
    return default if default is not None else start


def _attr_line(lines: list[str], key: str, value: str, start: int, stop: int | None = None) -> int:
    """Line of ``key = ...value...`` (HCL) or ``key: value`` at or after ``start`` (and
    before ``stop``); else the first line after ``start`` holding the value; else ``start``."""
    rx = re.compile(r'^\s*"?' + re.escape(key) + r'"?\s*[=:]')
    for i in range(max(0, start - 1), len(lines) if stop is None else min(len(lines), stop - 1)):
        if rx.match(lines[i]) and value in lines[i]:
            return i + 1
    return _line_of(lines, value, start + 1, start, stop)


def _handle_refs(value: Any, line: int, system: str | None, context: str, recreates: bool,
                 rtype: str, rname: str) -> Iterator[RefFact]:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            continue
        v = str(v).strip()
        if not v or "${" in v or v.startswith(("var.", "local.", "data.", "module.")):
            continue
        if v.startswith("arn:") or "@" in v:
            kind = "arn" if v.startswith("arn:") else "email"
        elif HANDLE.match(v):
            kind = "handle"
        else:
            continue
        yield RefFact(line, v, kind, system, context, recreates, rtype, rname)


# --- Terraform ----------------------------------------------------------------------------

Pairs = list[tuple[int, str, str]]
Values = list[tuple[int, str, str, str, str | None]]  # line, key, value, detector, identifier
ParseResult = tuple[list[RefFact], Pairs, Values]


def _unq(v: Any) -> Any:
    if isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def _leaves(obj: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.startswith("__"):
                continue
            yield from _leaves(v, _unq(k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v, key)
    else:
        yield key, _unq(obj)


def parse_terraform(text: str, lines: list[str], path: str) -> ParseResult:
    return terraform_facts(_parse_hcl(text, lines), text, lines)


def terraform_facts(doc: dict, text: str, lines: list[str]) -> ParseResult:
    """References, key/value pairs and secret variable defaults from a parsed document
    (python-hcl2's shape, whichever parser made it: tests/test_iac_hcl.py compares)."""
    values: Values = _tf_variable_defaults(text) if "variable" in text else []
    refs: list[RefFact] = []
    pairs: Pairs = []
    if not doc:  # the prefilter found no block to parse (_parse_hcl): nothing to locate
        return refs, pairs, values
    layout = hcl.Layout(lines)
    for block_type, blocks in doc.items():
        if block_type.startswith("__"):
            continue  # python-hcl2's __comments__: comments are lines, not key/values
        for k, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
            if block_type in ("resource", "data"):
                if not isinstance(block, dict):
                    continue
                for rtype, named in block.items():
                    rtype = _unq(rtype)
                    for rname, body in (named or {}).items():
                        rname = _unq(rname)
                        header = layout.header(block_type, rtype, rname)
                        stop = layout.end(header)
                        refs.extend(_tf_resource_refs(block_type, rtype, rname, body, lines,
                                                      header, stop))
                        for key, value in _leaves(body):
                            if isinstance(value, str) and value:
                                pairs.append((_line_of(lines, value, header, None, stop), key, value))
            elif block_type == "variable":
                continue  # _tf_variable_defaults
            else:  # provider, locals, module, terraform, tfvars top-level attributes
                # the k-th block of its type; a top-level attribute (a tfvars file) is one
                at = layout.nth(block_type, k if isinstance(block, dict) and
                                block.get("__is_block__") else 0)
                stop = layout.end(at)
                for key, value in _leaves(block, block_type):
                    if isinstance(value, str) and value:
                        pairs.append((_line_of(lines, value, at, None, stop), key, value))
    return refs, pairs, values


TF_INTERESTING = re.compile(
    r'^\s*(?:resource|data)\s+"(?:' + "|".join(TF_RECREATES) + r')"', re.MULTILINE)
TF_VARIABLE = re.compile(r'^\s*variable\s+"([^"]+)"\s*\{', re.MULTILINE)
TF_DEFAULT = re.compile(r'^\s*default\s*=\s*"((?:[^"\\$]|\\.)*)"\s*(?:#.*|//.*)?$', re.MULTILINE)


def _tf_variable_defaults(text: str) -> Values:
    """``variable "db_password" { default = "literal" }``: name and value on different
    lines, so no line scanner links them. Read without hcl2: a variable block is flat."""
    values: Values = []
    for m in TF_VARIABLE.finditer(text):
        name = m.group(1)
        if not SECRET_KEY_NAME.search(name):
            continue
        start = text.rfind("\n", 0, m.start()) + 1
        end = _block_end(text, start) or len(text)
        d = TF_DEFAULT.search(text, m.end(), end)
        if d and SecretScanner.is_assigned_secret(name, d.group(1)):
            line = text.count("\n", 0, d.start()) + 1
            values.append((line, name, d.group(1), "Terraform variable default", None))
    return values


def _parse_hcl(text: str, lines: list[str]) -> dict:
    """The parsed file, or {} when no block in it can name a person (a literal prefilter:
    a repository's Terraform is mostly buckets and networks that the line scan covers;
    variable defaults are read by regex). tree-sitter-hcl parses (C, collectors/iac/hcl.py);
    a file it cannot parse goes to python-hcl2, whose verdict stands; nesting too deep for
    either is a parse error (the line scan stands)."""
    if not TF_INTERESTING.search(text) and "{" in text and "\n" in text:
        return {}
    try:
        doc = hcl.loads(text)
    except hcl.TooDeep as exc:
        raise ParseError(str(exc)) from None
    return doc if doc is not None else _parse_hcl2(text)


def _parse_hcl2(text: str) -> dict:
    """python-hcl2 (a lark grammar, ~20 KB/s), on the interesting blocks only: they are cut
    at their closing brace; if the cut text does not parse, the whole file is parsed (and
    a failure there is the file's)."""
    import hcl2

    chunks: list[str] = []
    for m in TF_INTERESTING.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        end = _block_end(text, start)
        if end is None:
            chunks = []
            break
        chunks.append(text[start:end])
    try:
        if chunks:
            try:
                return hcl2.loads("\n".join(chunks) + "\n")
            except Exception:  # noqa: BLE001 - our cut was wrong: parse it all
                pass
        return hcl2.loads(text)
    except Exception as exc:  # lark errors: not valid HCL
        raise ParseError(_reason(exc)) from None


def _block_end(text: str, start: int) -> int | None:
    """Offset just after the brace closing the block opened on the line at ``start``."""
    depth, i, n, in_str = 0, start, len(text), False
    opened = False
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "#" or (c == "/" and text.startswith("//", i)):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == "<" and text.startswith("<<", i):
            return None  # heredoc: let hcl2 read the whole file
        elif c == "{":
            depth += 1
            opened = True
        elif c == "}":
            depth -= 1
            if opened and depth == 0:
                return i + 1
        i += 1
    return None


def _tf_resource_refs(block_type: str, rtype: str, rname: str, body: dict, lines: list[str],
                      header: int, stop: int | None = None) -> Iterator[RefFact]:
    context = f"terraform {rtype}.{rname}" if block_type == "resource" else \
        f"terraform data.{rtype}.{rname}"
    system = rtype.split("_", 1)[0] if "_" in rtype else None
    system = system if system in ("aws", "github", "gitlab", "kubernetes", "okta") else None
    recreate = TF_RECREATES.get(rtype)
    creates = block_type == "resource" and recreate is not None
    named = set(recreate[1]) if recreate else set()
    for key, value in _leaves(body):
        if rtype.startswith("kubernetes_") and key == "name":
            continue  # metadata / role_ref names; subjects are read below
        if key in named or PERSON_KEYS.match(key or ""):
            if key == "assume_role_policy" and isinstance(value, str):
                for m in ARN.finditer(value):
                    line = _line_of(lines, m.group(1), header, header, stop)
                    yield RefFact(line, m.group(1), "arn", "aws", context, creates, rtype, rname)
                continue
            line = _attr_line(lines, key, str(value), header, stop) if value is not None else header
            yield from _handle_refs(value, line, system, context, creates and key in named,
                                    rtype, rname)
    if rtype.startswith("kubernetes_") and "binding" in rtype:
        for subject in _subjects(body):
            name = _unq(subject.get("name"))
            if isinstance(name, str):
                line = _line_of(lines, name, header, header, stop)
                yield from _handle_refs(name, line, "kubernetes", context, creates, rtype, rname)


def _subjects(body: Any) -> Iterator[dict]:
    subj = body.get("subject") if isinstance(body, dict) else None
    for s in subj if isinstance(subj, list) else [subj] if subj else []:
        if isinstance(s, dict):
            yield s


# --- Terraform state -------------------------------------------------------------------


def parse_tfstate(text: str, lines: list[str], path: str) -> ParseResult:
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: line {exc.lineno}") from None
    if not isinstance(state, dict) or not isinstance(state.get("resources", []), list):
        raise ParseError("no resources list")
    refs: list[RefFact] = []
    values: Values = []
    for res in state.get("resources") or []:
        if not isinstance(res, dict) or res.get("mode") == "data":
            continue
        rtype, rname = str(res.get("type", "")), str(res.get("name", ""))
        context = f"tfstate {rtype}.{rname}"
        system = rtype.split("_", 1)[0] if rtype.split("_", 1)[0] in (
            "aws", "github", "gitlab", "kubernetes", "okta") else None
        for inst in res.get("instances") or []:
            attrs = (inst or {}).get("attributes") or {}
            if not isinstance(attrs, dict):
                continue
            sensitive = {_path_key(p) for p in (inst.get("sensitive_attributes") or [])}
            ident = attrs.get("id") if rtype == "aws_iam_access_key" else None
            named = set(TF_RECREATES.get(rtype, ("", ()))[1])
            for key, value in attrs.items():
                if isinstance(value, str) and value and (key in sensitive or SENSITIVE_TFSTATE.search(key)) \
                        and not key.endswith(("_id", "_arn")) and len(value) >= 8:
                    line = _line_of(lines, json.dumps(value)[1:-1][:200], 1)
                    values.append((line, key, value, "Terraform state sensitive attribute",
                                   ident if isinstance(ident, str) else None))
                if key in named or PERSON_KEYS.match(key):
                    line = _line_of(lines, f'"{value}"', 1) if isinstance(value, str) else 1
                    refs.extend(_handle_refs(value, line, system, context, False, rtype, rname))
    return refs, [], values


def _path_key(p: Any) -> str:
    """sensitive_attributes entries: [{"type":"get_attr","value":"secret"}] (or a string)."""
    if isinstance(p, list) and p and isinstance(p[0], dict):
        return str(p[0].get("value", ""))
    return str(p)


# --- YAML: Kubernetes manifests, Helm values, CI files, CloudFormation, kubeconfig -------


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class _TagLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that accepts CloudFormation's short-form tags (!Ref, !GetAtt, !Sub...)."""


def _tag(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {f"Fn::{suffix}" if suffix != "Ref" else "Ref": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {f"Fn::{suffix}": loader.construct_sequence(node, deep=True)}
    return {f"Fn::{suffix}": loader.construct_mapping(node, deep=True)}


_TagLoader.add_multi_constructor("!", _tag)


MANIFEST_KINDS = {"RoleBinding", "ClusterRoleBinding", "Secret", "ConfigMap"}


def _top_kind(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "kind" and isinstance(v, yaml.ScalarNode):
                return v.value
    return None


def _yaml_pairs(text: str, kinds: set[str] | None = None) -> tuple[list[Any], Pairs]:
    """Documents (only those whose ``kind`` is in ``kinds``, when given: constructing
    Python objects costs as much as parsing), and every (line, key, scalar value) pair."""
    pairs: Pairs = []
    docs: list[Any] = []
    loader = _TagLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            _walk_node(node, "", pairs)
            if kinds is None or _top_kind(node) in kinds:
                docs.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(f"not valid YAML (line {mark.line + 1})" if mark else "not valid YAML") from None
    finally:
        loader.dispose()
    return docs, pairs


def _walk_node(node: yaml.Node, key: str, pairs: Pairs, seen: set[int] | None = None) -> None:
    """Every scalar under ``node`` with the key it sits under, in document order (a loop
    over a stack, not recursion: no depth limit, and no call per node)."""
    seen = set() if seen is None else seen
    mapping, sequence, scalar = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode
    stack = [(node, key)]
    while stack:
        node, key = stack.pop()
        if id(node) in seen:  # an alias: its values were listed once ("billion laughs" stays linear)
            continue
        seen.add(id(node))
        if isinstance(node, mapping):
            stack.extend([(v, str(k.value if isinstance(k, scalar) else key))
                          for k, v in reversed(node.value)])
        elif isinstance(node, sequence):
            stack.extend([(v, key) for v in reversed(node.value)])
        elif isinstance(node, scalar) and isinstance(node.value, str) and node.value:
            pairs.append((node.start_mark.line + 1, key, node.value))


def parse_yaml(text: str, lines: list[str], path: str) -> ParseResult:
    """Kubernetes manifests and Helm values: RBAC subjects, Secrets' data (base64 decoded)."""
    docs, pairs = _yaml_pairs(text, MANIFEST_KINDS)
    refs: list[RefFact] = []
    values: Values = []
    search_from = 1
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        start = _line_of(lines, f"kind: {kind}", search_from) if kind else search_from
        obj = f"{kind} {ns + '/' if ns else ''}{name}"
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            for s in doc.get("subjects") or []:
                if isinstance(s, dict) and isinstance(s.get("name"), str):
                    skind = s.get("kind", "User")
                    sname = s["name"] if skind != "ServiceAccount" else \
                        f"{s.get('namespace', ns)}/{s['name']}"
                    line = _line_of(lines, s["name"], start, start)
                    refs.append(RefFact(line, s["name"], "email" if "@" in sname else "handle",
                                        "kubernetes", f"{obj} subject {skind}:{sname}", True,
                                        kind, name))
        if kind == "Secret":
            for field in ("data", "stringData"):
                data = doc.get(field) or {}
                if not isinstance(data, dict):
                    continue
                for key, raw in data.items():
                    if not isinstance(raw, str) or not raw:
                        continue
                    value = raw
                    if field == "data":
                        try:
                            value = base64.b64decode(raw, validate=True).decode("utf-8")
                        except (binascii.Error, ValueError, UnicodeDecodeError):
                            value = raw
                    line = _line_of(lines, raw[:60], start, start)
                    values.append((line, str(key), value, DECODED, None))
        if kind == "ConfigMap" and name == "aws-auth":
            for key in ("mapUsers", "mapRoles"):
                for m in ARN.finditer(str((doc.get("data") or {}).get(key, ""))):
                    line = _line_of(lines, m.group(1), start, start)
                    refs.append(RefFact(line, m.group(1), "arn", "aws", f"ConfigMap aws-auth {key}",
                                        True, "aws-auth", key))
        search_from = start + 1
    return refs, pairs, values


def parse_ci(text: str, lines: list[str], path: str) -> ParseResult:
    """GitHub Actions / GitLab CI: key/value pairs (env blocks with literal secrets)."""
    _docs, pairs = _yaml_pairs(text, set())
    name = PurePosixPath(path).name
    refs = [RefFact(line, value, "handle", "github" if ".github" in path else "gitlab",
                    f"workflow {name}", False)
            for line, key, value in pairs
            if key in ("assignees", "reviewers", "actor", "user") and HANDLE.match(value)]
    return refs, pairs, []


def parse_cloudformation(text: str, lines: list[str], path: str) -> ParseResult:
    if path.lower().endswith(".json"):
        try:
            docs, pairs = [json.loads(text)], []
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON: line {exc.lineno}") from None
    else:
        docs, pairs = _yaml_pairs(text)
    refs: list[RefFact] = []
    for doc in docs:
        resources = (doc or {}).get("Resources") if isinstance(doc, dict) else None
        if not isinstance(resources, dict):
            raise ParseError("no Resources mapping")
        for lid, res in resources.items():
            if not isinstance(res, dict):
                continue
            rtype = str(res.get("Type", ""))
            props = res.get("Properties") or {}
            header = _line_of(lines, f"{lid}", 1)
            context = f"cloudformation {rtype} {lid}"
            for key in CFN_RECREATES.get(rtype, ()):
                value = props.get(key)
                if key == "AssumeRolePolicyDocument":
                    for m in ARN.finditer(json.dumps(value)):
                        refs.append(RefFact(_line_of(lines, m.group(1), header, header), m.group(1),
                                            "arn", "aws", context, True, rtype, lid))
                    continue
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str):  # !Ref / !GetAtt are dicts: not a literal name
                        refs.extend(_handle_refs(v, _line_of(lines, v, header, header), "aws",
                                                 context, True, rtype, lid))
    return refs, pairs, []


def parse_kubeconfig(text: str, lines: list[str], path: str) -> ParseResult:
    """kubeconfig: user entries' tokens and passwords are secrets; their names are handles.
    (client-key-data is a base64-wrapped PEM key: SecretScanner decodes those itself.)"""
    docs, pairs = _yaml_pairs(text)
    refs: list[RefFact] = []
    values: Values = []
    for doc in docs:
        for u in (doc or {}).get("users") or []:
            if not isinstance(u, dict):
                continue
            uname, user = u.get("name"), u.get("user") or {}
            if isinstance(uname, str):
                refs.extend(_handle_refs(uname, _line_of(lines, uname, 1), "kubernetes",
                                         f"kubeconfig user {uname}", False, "kubeconfig", uname))
            for key in ("token", "password"):
                if isinstance(user.get(key), str) and user[key]:
                    values.append((_line_of(lines, user[key][:60], 1), key, user[key],
                                   "Kubeconfig credential", None))
    return refs, pairs, values


# --- CODEOWNERS, .env -----------------------------------------------------------------------


def parse_codeowners(text: str, lines: list[str], path: str) -> ParseResult:
    system = "gitlab" if ".gitlab" in path else "github" if ".github" in path else None
    refs: list[RefFact] = []
    for i, line in enumerate(lines, start=1):
        body = line.split("#", 1)[0].split()
        if len(body) < 2:
            continue
        pattern = body[0]
        for owner in body[1:]:
            if owner.startswith("@") and "/" not in owner and HANDLE.match(owner[1:]):
                refs.append(RefFact(i, owner[1:], "handle", system, f"CODEOWNERS {pattern}",
                                    False, "codeowners", pattern))
            elif "@" in owner and EMAIL.fullmatch(owner):
                refs.append(RefFact(i, owner, "email", system, f"CODEOWNERS {pattern}",
                                    False, "codeowners", pattern))
    return refs, [], []


def parse_dotenv(text: str, lines: list[str], path: str) -> ParseResult:
    pairs: Pairs = []
    for i, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("#") or "=" not in s:
            continue
        key, _, value = s.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((i, key.strip(), value))
    return [], pairs, []


PARSERS: dict[str, Callable[[str, list[str], str], ParseResult]] = {
    "terraform": parse_terraform,
    "tfstate": parse_tfstate,
    "cloudformation": parse_cloudformation,
    "yaml": parse_yaml,
    "ci": parse_ci,
    "kubeconfig": parse_kubeconfig,
    "codeowners": parse_codeowners,
    "dotenv": parse_dotenv,
}

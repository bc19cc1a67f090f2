"""Only the session revokers may write (issue 20): a static proof over every product module.

Each collector's own read-only test drives it against its fake and asserts the fake saw no
write. This test closes the gap between them: it reads the source of every module of
``scanner/``, ``collectors/``, ``rules/`` and ``reports/`` and finds each call that could send
a write to a provider (HTTP POST/PUT/PATCH/DELETE, a boto3 mutating operation, a Slack
write method, a revoker's ``apply``). Outside the revoker modules (``collectors/revoke.py``,
``collectors/<name>/revoke.py``) each such call must be one
of the few named below, each with the reason it is not a write to a provider. A new write
anywhere else fails here, naming the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("scanner", "collectors", "rules", "reports")
HTTP_WRITES = {"post", "put", "patch", "delete"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The SDK clients the product uses: every operation that is not a read, by its Python name.
AWS_SERVICES = ("iam", "sts", "sso-admin", "identitystore", "secretsmanager", "eks", "cloudtrail",
                "ec2", "s3", "organizations", "kms", "ssm", "lambda")
READ_VERBS = ("list", "get", "describe", "generate", "lookup", "search", "batch_get", "simulate",
              "test", "info", "history", "accessLogs", "can_paginate", "close")


def sdk_write_names() -> set[str]:
    """boto3 operations (from botocore's service models) and slack_sdk WebClient methods
    that change state: ``put_role_policy``, ``admin_users_session_reset``..."""
    import botocore.session
    from botocore import xform_name
    from slack_sdk import WebClient

    session = botocore.session.get_session()
    out = set()
    for service in AWS_SERVICES:
        model = session.get_service_model(service)
        out |= {xform_name(op) for op in model.operation_names
                if not xform_name(op).startswith(READ_VERBS) and op not in ("AssumeRole", "GetCallerIdentity")}
    for name in dir(WebClient):
        if not name.startswith("_") and "_" in name and not name.rsplit("_", 1)[-1].startswith(READ_VERBS):
            out.add(name)
    return out - {"api_call"}  # api_call is checked by its method argument below


WRITE_NAMES = sdk_write_names()
READ_OPS = re.compile(r"^(list|get|describe|generate|lookup|search|batch_get|assume_role$|"
                      r"get_caller_identity$|simulate)")

# (source text the call starts with, why it is not a write to a provider)
ALLOWED = {
    "self.cache.put(": "GitHub's local ETag cache, a file on this machine",
    "inv.delete(": "the inventory (DuckDB) on this machine",
    "session.post(self.webhook": "watch's verdict sink: the operator's own webhook, no provider",
    "super().invoke(ctx)": "click's command dispatch (Lambda's Invoke shares the name)",
    "self.post(line, key)": "the same verdict sink",
    'self._request("POST", self.requester.graphql_url': "a GraphQL query (reads only)",
}


def product_files() -> list[Path]:
    return sorted(p for d in PRODUCT for p in (ROOT / d).rglob("*.py"))


def is_revoker_module(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return rel == "collectors/revoke.py" or (rel.startswith("collectors/") and path.name == "revoke.py")


def write_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, call source, why it looks like a write) for every suspicious call."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        kw = {k.arg: k.value for k in node.keywords}
        method = kw.get("method")
        method = method.value if isinstance(method, ast.Constant) else None
        if isinstance(func, ast.Attribute) and name in HTTP_WRITES:
            hits.append((node, f"HTTP {name.upper()}"))
        elif name in ("request", "_request", "urlopen") and (
                (literal or "").upper() in WRITE_METHODS or str(method or "").upper() in WRITE_METHODS):
            hits.append((node, "HTTP write method"))
        elif isinstance(func, ast.Attribute) and name in WRITE_NAMES:
            hits.append((node, f"mutating operation {name}"))
        elif isinstance(func, ast.Attribute) and name == "apply" and not node.args[1:]:
            hits.append((node, "a revoker's apply"))
        elif name == "api_call" and literal and not literal.rsplit(".", 1)[-1].startswith(
                ("list", "info", "get", "lookup", "history", "test", "accessLogs")):
            hits.append((node, f"Slack method {literal}"))
        elif name in ("_call", "_pages") and len(node.args) >= 2:
            op = node.args[1]
            if isinstance(op, ast.Constant) and isinstance(op.value, str) and not READ_OPS.match(op.value):
                hits.append((node, f"AWS operation {op.value}"))
    # the call's own text (from its first line), for the allow-list
    return [(node.lineno, lines[node.lineno - 1][node.col_offset:], why) for node, why in hits]


def test_no_module_but_the_revokers_sends_a_write():
    offenders = []
    for path in product_files():
        if is_revoker_module(path):
            continue
        for line, src, why in write_calls(path):
            if not any(src.startswith(prefix) for prefix in ALLOWED):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {why}: {src[:80]}")
    assert offenders == []


def test_the_allowed_calls_still_exist():
    """An allowance nobody needs any more is removed, not left open."""
    seen = {prefix for path in product_files() if not is_revoker_module(path)
            for _, src, _ in write_calls(path) for prefix in ALLOWED if src.startswith(prefix)}
    assert seen == set(ALLOWED)


def test_the_detector_sees_the_revokers_writes():
    """The near miss: the same scan over the revoker modules finds their writes, so a
    write moved out of them would be found too."""
    found = {p.relative_to(ROOT).as_posix(): write_calls(p) for p in product_files() if is_revoker_module(p)}
    assert any("HTTP DELETE" in why for _, _, why in found["collectors/okta/revoke.py"])
    assert any("put_role_policy" in why for _, _, why in found["collectors/aws/revoke.py"])
    assert any("apply" in why for _, _, why in found["collectors/revoke.py"])
    assert any("admin_users_session_reset" in why for _, _, why in found["collectors/slack/revoke.py"])


def test_only_revoker_modules_register_revokers():
    for path in product_files():
        if not is_revoker_module(path):
            assert "@register_revoker" not in path.read_text(encoding="utf-8"), path

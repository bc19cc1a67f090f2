"""Bad input never crashes a scan: it is skipped with a warning and counted.

- IaC parsing (hypothesis): ``collectors.iac.parsers.analyze``, the one entry point of
  every format (Terraform/HCL, tfstate, YAML, JSON, CloudFormation, kubeconfig, CI,
  CODEOWNERS, .env), on arbitrary text, arbitrary bytes (decoded as the collector
  decodes them), format-shaped token soup, huge lines and deep nesting.
- The IaC walker, through the real collector: a symlink loop, a symlink out of the tree,
  an oversized file, binary and non-UTF-8 files, a malformed .tf.
- API payloads (hypothesis), through each collector's real client against its fake: one
  listing gets an extra item mutated from a real one (fields dropped, wrong types, huge
  strings, deep nesting, lone surrogates). The promise: the target is not failed by one
  bad item (ok, or partial with a warning), and every good item is still loaded.
- AWS transforms (boto3 parses by shape, so only missing fields and odd values reach
  them): a well-formed-looking entry never raises out of the transform.
"""

from __future__ import annotations

import copy
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from collectors.base import CollectorContext
from collectors.iac.analyzer import _decode
from collectors.iac.collector import IacCollector
from collectors.iac.facts import FileFacts
from collectors.iac.parsers import analyze
from fixtures import fake_github, fake_gitlab, fake_kubernetes, fake_okta, fake_scim
from scanner.config import check_block
from scanner.core import http
from scanner.core.model import Account, Coverage, Exposure, Reference
from scanner.core.secrets import Fingerprinter, SecretScanner
from scanner.core.store import Inventory, Sink

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"k" * 32)
SCANNER = SecretScanner(FP)
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- IaC parsing ------------------------------------------------------------------------------

PATHS = ["main.tf", "vars.tfvars", "terraform.tfstate", "values.yaml", "k8s/rb.yml",
         "stack.template", "policy.json", "kubeconfig", ".gitlab-ci.yml",
         ".github/workflows/ci.yml", "CODEOWNERS", ".env", "notes.txt"]
TOKENS = ['resource', 'data', 'module', 'provider', '"aws_iam_user"', '"alice"', '{', '}', '[', ']',
          '=', ':', ',', '"', "'", '${', 'var.x', '<<EOF', 'EOF', '#', '//', '/*', '*/', '\n', ' ',
          '- ', '  ', 'kind: Config', 'clusters:', 'users:', 'token:', 'AWSTemplateFormatVersion',
          'Type: AWS::IAM::User', '!Ref', '&a', '*a', '<<: *a', '---', '"version": 4',
          '"resources":', '"instances":', '"attributes":', 'password', 'AKIAFAKEFUZZ00000001',
          '@alice-gh', 'alice@example.com', 'export ', 'KEY=', '\\', '\t', '\x00', '\ufeff', '\udcff']
soup = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)


def _check(facts: FileFacts) -> None:
    assert isinstance(facts, FileFacts)
    assert facts.parse_error is None or isinstance(facts.parse_error, str)
    assert all(isinstance(h.fingerprint, str) for h in facts.hits)


@FUZZ
@given(path=st.sampled_from(PATHS), text=st.one_of(st.text(max_size=400), soup))
def test_analyze_never_raises_on_text(path, text):
    _check(analyze(path, text, SCANNER))


@FUZZ
@given(path=st.sampled_from(PATHS), data=st.binary(max_size=400))
def test_analyze_never_raises_on_bytes(path, data):
    _check(analyze(path, _decode(data), SCANNER))


@pytest.mark.parametrize("path,text", [
    ("deep.json", "[" * 100_000),
    ("deep.tfstate", "{" * 100_000),
    ("deep.tf", "a = " + "[" * 50_000),
    ("deep.yaml", "- " * 20_000 + "x"),
    ("deep.yml", "".join("  " * i + "a:\n" for i in range(2_000))),
    ("huge.tf", 'password = "' + "x" * 1_000_000),
    ("huge.env", "A=" + "y" * 1_000_000),
])
def test_analyze_survives_deep_nesting_and_huge_lines(path, text):
    facts = analyze(path, text, SCANNER)
    _check(facts)


def alias_bomb(levels: int) -> str:
    """'Billion laughs': each level names the previous one nine times."""
    out = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(levels):
        prev, this = chr(97 + i), chr(98 + i)
        out += f"{this}: &{this} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return out


def test_yaml_alias_bomb_costs_linear_work():
    """The walk that lists (line, key, value) pairs must visit an aliased node once:
    3 levels of 9 aliases give 9**4 = 6561 pairs today for 9 scalars in the text."""
    from collectors.iac.parsers import _yaml_pairs
    _docs, pairs = _yaml_pairs(alias_bomb(3))
    assert len(pairs) <= 9


# --- the IaC walker ---------------------------------------------------------------------------

OUTSIDE_SECRET = "residualFAKEoutsideTREEsecret9Kq2"


def test_iac_walker_symlink_loops_oversized_binary_and_malformed_files(tmp_path, caplog):
    root = tmp_path / "infra"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # a loop
    (root / "sub" / "self").symlink_to(root / "sub" / "self")           # a dangling self-link
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text(f"API_TOKEN={OUTSIDE_SECRET}\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)     # out of the tree
    (root / "escape.env").symlink_to(outside / "secret.env")
    (root / "big.tf").write_text("# " + "z" * 3000 + "\n")               # over max_file_bytes
    (root / "blob.tf").write_bytes(b"resource \x00\x01\x02")              # binary
    (root / "latin1.tf").write_bytes(b'resource "aws_iam_user" "alice" {\n  name = "\xe9\xff"\n}\n')
    (root / "broken.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n')
    (root / "ok.tf").write_text('resource "aws_iam_user" "bob" {\n  name = "bob"\n}\n')

    inv = Inventory(":memory:")
    scan = inv.begin_scan("fuzz")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=FP, cache_dir=tmp_path / "cache", now=NOW, base_dir=tmp_path)
    block = check_block({"path": str(root), "max_file_bytes": 2000, "workers": 1},
                        IacCollector.options, "collectors.iac[0]", tmp_path / "t.yaml")
    with caplog.at_level(logging.WARNING):
        IacCollector(block, ctx).collect(sink)
    sink.flush()
    (row,) = inv.load(Coverage, scan)
    assert row.status in ("ok", "partial"), row
    attrs = row.attributes
    assert attrs["skipped"].get("too large") == 1 and attrs["skipped"].get("binary") == 1, attrs
    assert attrs["parse_errors"] >= 1 and any(p["path"] == "broken.tf" for p in attrs["parse_error_files"])
    assert any("broken.tf" in r.getMessage() for r in caplog.records)  # a warning
    locations = {r.location for r in inv.load(Reference, scan)} | {e.location for e in inv.load(Exposure, scan)}
    assert any("ok.tf" in loc for loc in locations) and any("latin1.tf" in loc for loc in locations)
    assert not any("loop" in loc or "escape" in loc or "outside" in loc for loc in locations), locations
    assert not [e for e in inv.load(Exposure, scan) if e.fingerprint == FP.fingerprint(OUTSIDE_SECRET)]


# --- API payloads, through the collectors and their fakes ------------------------------------

leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                 st.text(max_size=30), st.just("x" * 100_000), st.just("\udcff\udcfe"),
                 st.just("2026-13-45T99:99:99Z"), st.just(""), st.just("-1"))
value = st.recursive(leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                     max_leaves=10)


def deep(n: int) -> Any:
    out: Any = "bottom"
    for _ in range(n):
        out = [out]
    return out


value = st.one_of(value, st.just(deep(200)), st.just({"a": {"b": {"c": deep(50)}}}))


def paths_of(item: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(item, dict):
        for k, v in item.items():
            out.append(prefix + (k,))
            if isinstance(v, dict):
                out.extend(paths_of(v, prefix + (k,)))
    return out


def mutate(item: dict, edits: list[tuple[int, str, Any]], avoid: set[tuple] = frozenset()) -> Any:
    """A copy of ``item`` with some fields dropped or replaced by arbitrary values (or,
    for edit index -1, the item itself replaced: a string, a list, null). ``avoid``:
    fields with a known bug (tested on their own below), left alone."""
    out = copy.deepcopy(item)
    paths = paths_of(out)
    for i, how, v in edits:
        if i < 0:
            return v
        path = paths[i % len(paths)]
        if path in avoid:
            continue
        parent = out
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if how == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = v
    return out


edits = st.lists(st.tuples(st.integers(min_value=-1, max_value=60), st.sampled_from(["drop", "set"]), value),
                 min_size=1, max_size=4)


class FakeSpec:
    def __init__(self, name, start, cls, config, listing, fresh):
        self.name, self.start, self.cls, self.config = name, start, cls, config
        self.listing, self.fresh = listing, fresh


def _fresh_okta(item):
    item = copy.deepcopy(item)
    item["id"] = "00ufuzz000000000z999"
    item["profile"]["login"] = item["profile"]["email"] = "fuzz@example.com"
    return item


def _fresh_scim(item):
    item = copy.deepcopy(item)
    item["id"], item["userName"] = "UFUZZ999", "fuzz"
    return item


def _fresh_k8s(item):
    item = copy.deepcopy(item)
    item["metadata"] = {**item["metadata"], "name": "fuzz", "uid": "00000000-0000-4000-8000-00000000f999"}
    return item


def _fresh_gitlab(item):
    item = copy.deepcopy(item)
    item["id"], item["username"], item["email"] = 9999, "fuzz", "fuzz@example.com"
    return item


def _fresh_github(item):
    item = copy.deepcopy(item)
    item["id"], item["login"], item["node_id"] = 9999, "fuzz-gh", "MDQ6VXNlcjk5OTk="
    return item


SPECS = {
    "okta": FakeSpec("okta", fake_okta.start_demo, "collectors.okta.collector:OktaCollector",
                     lambda s: {"domain": "acme.okta.com", "base_url": s.url, "token": fake_okta.DEMO_TOKEN},
                     r"^/api/v1/users$", _fresh_okta),
    "scim": FakeSpec("scim", fake_scim.start_demo, "collectors.scim.collector:ScimCollector",
                     lambda s: {"name": "slack", "url": s.url, "token": fake_scim.DEMO_TOKEN},
                     r"^/Users$", _fresh_scim),
    "kubernetes": FakeSpec("kubernetes", fake_kubernetes.start_demo,
                           "collectors.kubernetes.collector:KubernetesCollector", None,
                           r"^/api/v1/serviceaccounts$", _fresh_k8s),
    "gitlab": FakeSpec("gitlab", fake_gitlab.start_demo, "collectors.gitlab.collector:GitLabCollector",
                       lambda s: {"url": s.url, "token": fake_gitlab.ADMIN_TOKEN},
                       r"^/api/v4/users$", _fresh_gitlab),
    "github": FakeSpec("github", fake_github.start_demo, "collectors.github.collector:GitHubCollector",
                       lambda s: {"org": "acme", "token": fake_github.DEMO_TOKEN, "base_url": s.url},
                       r"^/orgs/acme/outside_collaborators$", _fresh_github),
}


def _items(body: Any) -> list | None:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("items", "Resources"):
            if isinstance(body.get(key), list):
                return body[key]
    return None


class Harness:
    """One fake per collector for the module; each example adds one item to a listing."""

    def __init__(self, spec: FakeSpec, tmp: Path):
        import importlib
        self.spec, self.tmp = spec, tmp
        self.server = spec.start()
        mod, cls = spec.cls.split(":")
        self.cls = getattr(importlib.import_module(mod), cls)
        if spec.name == "kubernetes":
            kc = fake_kubernetes.write_kubeconfig(tmp / "kubeconfig", self.server, context="prod")
            cfg = {"kubeconfig": str(kc), "context": "prod"}
        else:
            cfg = spec.config(self.server)
        self.block = check_block(cfg, self.cls.options, f"collectors.{spec.name}[0]", tmp / "t.yaml")
        self.orig = self.server._dispatch
        self.sample = None
        self.runs = 0
        clean = self.run(None)
        assert self.sample is not None, f"{spec.name}: the listing was not read"
        self.baseline = clean

    def _dispatch(self, extra: Any):
        def dispatch(req):
            resp = self.orig(req)
            import re
            if re.search(self.spec.listing, req.path) and resp.status == 200:
                items = _items(resp.body)
                if items:
                    self.sample = self.sample or copy.deepcopy(items[0])
                    if extra is not None:
                        resp.body = copy.deepcopy(resp.body)
                        _items(resp.body).append(extra)
                        if isinstance(resp.body, dict) and "totalResults" in resp.body:
                            resp.body["totalResults"] += 1
            return resp
        return dispatch

    def run(self, extra: Any) -> tuple[Coverage, set[str], list[logging.LogRecord]]:
        self.server._dispatch = self._dispatch(extra)
        records: list[logging.LogRecord] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger().addHandler(handler)
        try:
            inv = Inventory(":memory:")
            scan = inv.begin_scan("fuzz")
            sink = Sink(inv, scan)
            self.runs += 1  # a fresh cache each run: no ETag hit may hide the injected item
            ctx = CollectorContext(fingerprinter=FP, cache_dir=self.tmp / f"cache{self.runs}", now=NOW,
                                   base_dir=self.tmp, max_retries=1)
            self.cls(self.block, ctx).collect(sink)  # must not raise
            sink.flush()
            self.logins = {a.login for a in inv.load(Account, scan)}
            rows = [c for c in inv.load(Coverage, scan) if c.status != "skipped"]
            main = next(c for c in rows if "/" not in c.target.replace(self.tmp.as_posix(), "")
                        and not c.target.endswith(":actions")) if rows else None
            accounts = {a.uid for a in inv.load(Account, scan)}
            inv.close()
            return main, accounts, records
        finally:
            logging.getLogger().removeHandler(handler)
            self.server._dispatch = self.orig


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory):
    made: dict[str, Harness] = {}
    yield lambda name: made.setdefault(name, Harness(SPECS[name], tmp_path_factory.mktemp(name)))
    for h in made.values():
        h.server.stop()


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(http, "sleep", lambda s: None)


@pytest.mark.parametrize("name", list(SPECS))
def test_one_bad_item_is_skipped_not_fatal(name, harnesses):
    h = harnesses(name)
    main0, accounts0, _ = h.baseline
    assert main0.status == "ok"

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(e=edits)
    def check(e):
        bad = mutate(h.spec.fresh(h.sample), e, KNOWN_FIELDS.get(name, set()))
        main, accounts, logs = h.run(bad)
        assert main is not None and main.status in ("ok", "partial"), (bad if len(repr(bad)) < 500 else "...", main)
        assert accounts0 <= accounts, sorted(accounts0 - accounts)  # every good item still loaded
        if main.status == "partial":
            assert any(r.levelno >= logging.WARNING for r in logs)  # said, not silent

    check()


OKTA_NAME = ("okta transform_user: display_name joins profile.firstName/lastName without checking "
             "they are strings: one user whose name is a list or a number fails the whole org")
SCIM_EMAILS = ("scim _emails: iterates a user's `emails` without checking it is a list: one user "
               "with a scalar `emails` fails the whole app")
GITLAB_KEYS = ("gitlab _add_user: uses a user's `id`/`username` as dict keys unchecked: one user "
               "whose id is a list or an object fails the whole instance")
GITHUB_LOGIN = ("github load_outside: uses an outside collaborator's `login` as a set key unchecked: "
                "one whose login is a list or an object fails the whole org")
PAYLOAD_REGRESSIONS = [  # (collector, field, value, what failed before the fix)
    ("github", ("login",), ["fuzz-gh"], GITHUB_LOGIN),
    ("okta", ("profile", "firstName"), ["Ann"], OKTA_NAME),
    ("okta", ("profile", "lastName"), 5, OKTA_NAME),
    ("scim", ("emails",), 5, SCIM_EMAILS),
    ("gitlab", ("id",), {"x": 1}, GITLAB_KEYS),
    ("gitlab", ("username",), ["fuzz"], GITLAB_KEYS),
]
KNOWN_FIELDS: dict[str, set[tuple]] = {}  # fields the fuzzing leaves alone (none: all fixed)


@pytest.mark.parametrize("name,path,value", [
    pytest.param(n, p, v, id=f"{n}-{'.'.join(p)}") for n, p, v, _r in PAYLOAD_REGRESSIONS])
def test_payload_regressions(name, path, value, harnesses):
    """Bugs the fuzzing found (fixed): each shape once, deterministically."""
    h = harnesses(name)
    _main0, accounts0, _ = h.baseline
    bad = h.spec.fresh(h.sample)
    parent = bad
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    main, accounts, _ = h.run(bad)
    assert main is not None and main.status in ("ok", "partial"), main
    assert accounts0 <= accounts


@pytest.mark.parametrize("name", list(SPECS))
def test_a_lone_surrogate_in_a_payload_is_stored_not_fatal(name, harnesses):
    """JSON may carry "\\udcff", which UTF-8 cannot encode: the inventory stores U+FFFD
    instead of failing the batch (and with it the target's coverage row)."""
    h = harnesses(name)
    _main0, accounts0, _ = h.baseline
    bad = h.spec.fresh(h.sample)
    for key in ("login", "userName", "username", "name"):
        if isinstance(bad.get(key), str):
            bad[key] += "\udcff"
    if name == "okta":
        bad["profile"]["login"] += "\udcff"
    if name == "kubernetes":
        bad["metadata"]["name"] += "\udcff"
    main, accounts, _ = h.run(bad)
    assert main is not None and main.status in ("ok", "partial"), main
    assert accounts0 <= accounts and len(accounts) == len(accounts0) + 1
    assert any("\ufffd" in (login or "") for login in h.logins), h.logins


# --- the inventory: whatever a transform lets through is stored, not fatal -------------------

any_value = st.one_of(value, st.datetimes(), st.datetimes(timezones=st.just(UTC)),
                      st.integers(min_value=-2**70, max_value=2**70), st.just(float("inf")))


@FUZZ
@given(fields=st.fixed_dictionaries({}, optional={
    k: any_value for k in ("login", "email", "kind", "status", "created_at", "last_seen_at", "attributes")}),
    cred=st.fixed_dictionaries({}, optional={
        k: any_value for k in ("holder", "name", "scopes", "expires_at", "fingerprint", "hint", "attributes")}))
def test_the_sink_stores_records_with_malformed_fields(fields, cred):
    """A record whose fields have the wrong types (a transform that trusted a payload)
    is coerced to the column types with a warning: the batch, and the coverage row
    flushed after it, are not lost."""
    from scanner.core.model import Credential
    inv = Inventory(":memory:")
    scan = inv.begin_scan("fuzz")
    sink = Sink(inv, scan)
    sink.emit(Account(system="x", source="x:1", native_id="good", login="good"))
    sink.emit(Account(system="x", source="x:1", native_id="bad", **fields))
    sink.emit(Credential(system="x", source="x:1", native_id="c", kind="pat", **cred))
    sink.emit(Coverage(collector="x", target="1", layer="saas", status="ok"))
    sink.flush()
    assert {a.native_id for a in inv.load(Account, scan)} == {"good", "bad"}
    assert len(inv.load(Credential, scan)) == 1 and len(inv.load(Coverage, scan)) == 1
    inv.close()


# --- AWS transforms ----------------------------------------------------------------------------

from collectors.aws import transform as aws_mod

aws_text = st.one_of(st.text(max_size=20), st.just("x" * 10_000), st.just("\udcff"))
aws_date = st.one_of(st.datetimes(timezones=st.just(UTC)), st.none())
policy_doc = st.one_of(value, st.just("%7B%22Statement%22%3A%5B%5D%7D"), st.just("{not json"),
                       st.fixed_dictionaries({"Statement": value}))
aws_user = st.fixed_dictionaries(
    {"UserName": st.text(min_size=1, max_size=20),
     "Arn": st.text(max_size=20).map(lambda n: f"arn:aws:iam::123456789012:user/{n}")},
    optional={"UserId": aws_text, "Path": aws_text, "CreateDate": aws_date,
              "Tags": st.lists(st.fixed_dictionaries({"Key": aws_text, "Value": aws_text}), max_size=3),
              "GroupList": st.lists(aws_text, max_size=3),
              "AttachedManagedPolicies": st.lists(st.fixed_dictionaries(
                  {"PolicyName": aws_text, "PolicyArn": aws_text}), max_size=2),
              "UserPolicyList": st.lists(st.fixed_dictionaries(
                  {"PolicyName": aws_text, "PolicyDocument": policy_doc}), max_size=2)})
aws_role = st.fixed_dictionaries(
    {"RoleName": st.text(min_size=1, max_size=20),
     "Arn": st.text(max_size=20).map(lambda n: f"arn:aws:iam::123456789012:role/{n}")},
    optional={"AssumeRolePolicyDocument": policy_doc, "CreateDate": aws_date,
              "Tags": st.lists(st.fixed_dictionaries({"Key": aws_text, "Value": aws_text}), max_size=3),
              "RoleLastUsed": st.fixed_dictionaries({}, optional={"LastUsedDate": aws_date})})


@FUZZ
@given(user=aws_user, report=st.one_of(st.none(), st.dictionaries(st.sampled_from(aws_mod.REPORT_COLUMNS),
                                                                      aws_text, max_size=8)))
def test_aws_transform_user_never_raises_on_a_well_formed_entry(user, report):
    acc, grants = aws_mod.transform_user(user, "aws:123456789012", report)
    assert acc.native_id == user["Arn"]


@FUZZ
@given(role=aws_role)
def test_aws_transform_role_raises_only_what_the_collector_counts(role):
    """The collector skips a role whose trust policy is unreadable (ValueError,
    TypeError), counted as malformed; anything else would fail the whole account."""
    try:
        aws_mod.transform_role(role, "aws:123456789012")
    except (ValueError, TypeError):
        pass


no_csv_breakers = st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"").replace(b"\r", b""))


@FUZZ
@given(content=st.one_of(no_csv_breakers, st.text(max_size=300).map(
                             lambda t: t.replace("\x00", "").replace("\r", "").encode("utf-8", "replace")),
                         st.lists(st.lists(aws_text, max_size=25), max_size=4).map(
                             lambda rows: "\n".join([",".join(aws_mod.REPORT_COLUMNS)] +
                                                    [",".join(r) for r in rows]).replace("\r", "")
                             .encode("utf-8", "replace"))))
def test_aws_credential_report_parse_is_total(content):
    """Any bytes: rows and a count of the bad ones, or ValueError (the target goes partial).
    A bare CR inside a field is left out here: it raises csv.Error, tested through the
    collector in test_fault_matrix.py."""
    try:
        rows, bad = aws_mod.parse_credential_report(content)
    except ValueError:
        return
    assert isinstance(rows, dict) and bad >= 0

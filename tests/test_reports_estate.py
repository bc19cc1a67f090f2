"""A realistic two-scan inventory for the report tests, built with the real pipeline
pieces (roster CSV parser, resolve, the rule engine, waivers), not with fake findings,
plus one hand-made IaC exposure finding so that file locations (SARIF) are exercised.

It carries hostile values on purpose: an account named ``<img src=x onerror=alert(1)>``,
a key named ``</script><script>alert(2)</script>``, a file path with markup and quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collectors.csv_roster.roster import identities_from_csv
from fixtures.demo import __file__ as _demo_init
from reports.waivers import load_waivers
from scanner.config import Config
from scanner.core.model import Account, Coverage, Credential, Finding, Identity, Resource
from scanner.core.options import Policy
from scanner.core.store import Inventory
from scanner.engine import finding_fingerprint, verdicts_for
from scanner.pipeline import _resolve_into, analyse

ROSTER = Path(_demo_init).parent / "roster.csv"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(2)</script>"
XSS_PATH = f"infra/{XSS_IMG}/\"quoted\" 'main'.tf"
AWS = "aws:123456789012"
GH = "github:acme"
SCAN1_AT = datetime(2026, 11, 14, 12, 0, tzinfo=UTC)
SCAN2_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

WAIVERS_YAML = """\
waivers:
  - rule: account.active_after_termination
    identity: dave@example.com
    object: dave-gh
    reason: "Legal hold: account kept read-only until the review closes"
    approver: ciso@example.com
    expires: 2027-01-31
  - rule: account.active_while_suspended
    identity: erin@example.com
    reason: "Suspension under appeal"
    approver: hr@example.com
    expires: 2026-11-01
"""


def dt(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


@dataclass
class Estate:
    path: Path
    config: Config
    scan1: str
    scan2: str
    exposure_fp: str


def _records(second: bool) -> list:
    arn = f"arn:aws:iam::123456789012:user"
    recs: list = [
        Account("aws", AWS, f"{arn}/alice", login="alice", email="alice@example.com",
                created_at=dt("2023-02-01")),
        Account("aws", AWS, f"{arn}/bob", login="bob", created_at=dt("2024-05-01")),
        Account("aws", AWS, f"{arn}/svc-deploy", login="svc-deploy", kind="service_account",
                created_at=dt("2022-01-10")),
        Account("github", GH, "alice-gh", login="alice-gh"),
        Account("github", GH, "dave-gh", login="dave-gh"),
        Account("github", GH, "erin-gh", login="erin-gh"),
        Account("github", GH, XSS_IMG, login=XSS_IMG, attributes={"outside_collaborator": True}),
        Credential("aws", AWS, "AKIAEXAMPLEALICE0001", "access_key", holder=f"{AWS}|{arn}/alice",
                   name="AKIAEXAMPLEALICE0001", created_at=dt("2024-01-15"),
                   last_used_at=dt("2026-11-10"), hint="AKIA…0001"),
        Credential("github", GH, "SHA256:exampleAliceKey", "ssh_key", holder=f"{GH}|alice-gh",
                   name=XSS_SCRIPT, created_at=dt("2026-06-01"),
                   fingerprint="SHA256:exampleAliceKey"),
        Credential("aws", AWS, "AKIAEXAMPLEDEPLOY001", "access_key",
                   holder=f"{AWS}|{arn}/svc-deploy", name="AKIAEXAMPLEDEPLOY001",
                   created_at=dt("2022-01-10"), last_used_at=dt("2026-11-20")),
        Credential("aws", AWS, "AKIAEXAMPLEBOB000001", "access_key", holder=f"{AWS}|{arn}/bob",
                   name="AKIAEXAMPLEBOB000001", created_at=dt("2026-10-01"),
                   last_used_at=dt("2026-11-20")),
        Resource("github", GH, f"acme/{XSS_IMG}", "repo", name=f"acme/{XSS_IMG}"),
        Coverage("aws", "123456789012", "cloud", records=7, api_calls=6),
        Coverage("github", "acme", "code-hosting", records=6, api_calls=4),
        Coverage("iac", "./infra", "iac", records=3, api_calls=0),
    ]
    if second:
        recs += [
            Coverage("github", "acme/audit-log", "code-hosting", status="skipped",
                     error="403 Forbidden: the token lacks read:audit_log"),
            Coverage("kubernetes", "prod", "kubernetes", records=40, api_calls=9),
            # alice created a new token after she left: new in scan 2
            Credential("github", GH, "ghp-token-42", "pat", holder=f"{GH}|alice-gh",
                       name="laptop token", created_at=dt("2026-11-05"), hint="ghp_…WXYZ",
                       attributes={"never_expires": True}),
        ]
    else:
        recs += [
            Coverage("kubernetes", "prod", "kubernetes", status="failed",
                     error="ConnectionError: connection refused (127.0.0.1:6443)"),
            # an old key of alice's, deleted before scan 2: resolved
            Credential("aws", AWS, "AKIAEXAMPLEALICE0002", "access_key",
                       holder=f"{AWS}|{arn}/alice", name="AKIAEXAMPLEALICE0002",
                       created_at=dt("2021-03-01"), last_used_at=dt("2026-10-01")),
        ]
    return recs


def _exposure_finding() -> Finding:
    subject = f"exposure:iac:./infra|{XSS_PATH}:12:0123456789abcdef"
    return Finding(
        rule="exposure.secret_in_iac", severity="high",
        title="AWS access key of a leaver hard-coded in \"main.tf\" '</script>'",
        layer="iac", system="iac", identity="alice@example.com", subject=subject,
        object_kind="exposure", object_id="AKIAEXAMPLEALICE0001", object_name=XSS_PATH,
        location_path=XSS_PATH, location_line=12,
        evidence={"detector": "AWS Access Key", "hint": "AKIA…0001",
                  "matched_credential": f"{AWS}|AKIAEXAMPLEALICE0001"},
        path=["identity:alice@example.com", f"account:{AWS}|arn:aws:iam::123456789012:user/alice",
              f"credential:{AWS}|AKIAEXAMPLEALICE0001", subject],
        frameworks=["OWASP-NHI:NHI2"],
        remediation="Remove the key from the file and its history, then revoke it.",
        fingerprint=finding_fingerprint("exposure.secret_in_iac", "alice@example.com", subject))


def _scan(inv: Inventory, config: Config, at: datetime, second: bool, waive) -> str:
    sid = inv.begin_scan("scan", config.digest(), now=at)
    idents = identities_from_csv(ROSTER.read_text(), str(ROSTER))
    inv.insert(sid, idents)
    inv.insert(sid, [Coverage("roster:csv", "roster.csv", "directory", records=len(idents))])
    inv.insert(sid, _records(second))
    _resolve_into(inv, sid, idents)
    result = analyse(inv, sid, config, now=at, waive=waive)
    if second:  # one finding with a file location, as the IaC rules produce
        f = _exposure_finding()
        inv.insert(sid, [f])
        verdicts = verdicts_for([i for i in idents if i.is_leaver], result.findings + [f],
                                result.coverage)
        inv.write_verdicts(sid, [(i, l, v, "") for i, ls in verdicts.items() for l, v in ls.items()])
    inv.finish_scan(sid, result.status, now=at.replace(minute=3))
    return sid


def build_estate(tmp: Path) -> Estate:
    (tmp / "waivers.yaml").write_text(WAIVERS_YAML)
    config = Config(path=tmp / "residual.yaml", inventory=tmp / "r.duckdb",
                    roster=[{"kind": "csv", "path": str(ROSTER)}], policy=Policy(),
                    collectors={"aws": [{"name": "prod", "token": "not-a-real-token"}]},
                    fingerprint_key=tmp / "r.key", cache_dir=tmp / "cache",
                    waivers=tmp / "waivers.yaml",
                    raw={"inventory": "r.duckdb", "collectors": {"github": [
                        {"org": "acme", "token": "ghp_FAKEFAKEFAKEFAKE"}]}})
    with Inventory(config.inventory) as inv:
        s1 = _scan(inv, config, SCAN1_AT, False, load_waivers(config.waivers, SCAN1_AT.date()))
        s2 = _scan(inv, config, SCAN2_AT, True, load_waivers(config.waivers, SCAN2_AT.date()))
    return Estate(config.inventory, config, s1, s2, _exposure_finding().fingerprint)


def test_estate_has_what_the_report_tests_rely_on(tmp_path):
    e = build_estate(tmp_path)
    with Inventory(e.path, read_only=True) as inv:
        f2 = {(f.rule, f.identity, f.status) for f in inv.load(Finding, e.scan2)}
        v2 = inv.verdicts(e.scan2)
        v1 = inv.verdicts(e.scan1)
    assert ("credential.used_after_termination", "alice@example.com", "persisting") in f2
    assert ("credential.live_of_leaver", "alice@example.com", "new") in f2
    assert ("account.active_after_termination", "dave@example.com", "waived") in f2
    # the expired waiver no longer applies
    assert ("account.active_while_suspended", "erin@example.com", "persisting") in f2
    assert ("account.unowned", None, "persisting") in f2
    assert v2["alice@example.com"]["iac"] == "residual"
    assert v2["carol@example.com"] == {**v2["carol@example.com"],
                                       "cloud": "clean", "kubernetes": "clean"}
    assert v1["carol@example.com"]["kubernetes"] == "incomplete"
    assert "saas" not in {l for l, v in v2["carol@example.com"].items() if v != "not_configured"}

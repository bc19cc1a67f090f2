"""Every scope-error answer each fake gives, held to the coverage row it must make.

One table: a fake (driven by the real client library, as in the fault matrix), the answer
a real API gives a token that lacks a scope, role or permission (GitHub's
INSUFFICIENT_SCOPES and 403/404 bodies, GitLab's 403 and Admin Mode, Okta's E0000006,
a SCIM 403 Error, a Kubernetes 403 Status, AWS AccessDenied), and the row it must give:
``skipped`` (``partial`` for Kubernetes, where a forbidden core resource type leaves the
cluster unverified) with an error that names what is missing, as docs/permissions/*.md
lists it. Never ``ok``, never a silent empty listing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from fixtures import fake_github, fake_gitlab, fake_okta, fake_scim
from tests.test_fault_matrix import SPECS, aws_error, run_case

DOCUMENTED = {"read:org", "repo", "admin:org_hook"}  # docs/permissions/github.md


@dataclass
class Case:
    fake: str
    target: str       # a regex on the coverage row's target
    status: str
    names: str        # a regex the row's error must match: the missing scope / role / action
    faults: list[tuple[str, dict[str, Any]]] = ()
    prepare: Callable[[Any, dict[str, Any]], None] | None = None


def gh_scopes(extra: set[str] = frozenset()) -> Callable:
    def prep(server, cfg):
        server.token_scopes[fake_github.DEMO_TOKEN] = DOCUMENTED | set(extra)
    return prep


def gh_enterprise(server, cfg):
    server.saml, server.enterprise = None, "acme-corp"
    server.enterprise_saml = {"alice-gh": "alice@example.com"}
    server.token_scopes[fake_github.DEMO_TOKEN] = DOCUMENTED | {"read:user"}
    cfg["enterprise"] = "acme-corp"


def gl_admin_mode(server, cfg):
    server.data.admin_mode = True
    server.data.token_scopes[fake_gitlab.ADMIN_TOKEN] = ["read_api"]
    cfg["admin"] = True


def gl_developer(server, cfg):
    cfg["token"] = "fake-gitlab-bob-token"  # a Developer in acme, not its Owner


GL_403 = {"status": 403, "body": {"message": "403 Forbidden"}}
OKTA_403 = {"status": 403, "body": fake_okta.okta_error(
    403, "E0000006", "You do not have permission to perform the requested action").body}
SCIM_403 = {"status": 403, "body": fake_scim.scim_error(403, "Insufficient permissions").body,
            "headers": {"Content-Type": "application/scim+json"}}

CASES = {
    "github User.email INSUFFICIENT_SCOPES": Case(
        "github", r"^acme/member-emails$", "skipped", r"user:email.*read:user", prepare=gh_scopes()),
    "github enterprise ownerInfo INSUFFICIENT_SCOPES": Case(
        "github", r"^acme/enterprise-saml-identities$", "skipped", r"read:enterprise", prepare=gh_enterprise),
    "github PATs 403 for a token": Case(
        "github", r"^acme/personal-access-tokens$", "skipped", r"GitHub App.*Personal access tokens read"),
    "github org hooks 404 without admin:org_hook": Case(
        "github", r"^acme/hooks$", "skipped", r"admin:org_hook",
        faults=[(r"^/orgs/acme/hooks$", {"status": 404, "body": {
            "message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}})]),
    "github SAML identities FORBIDDEN": Case(
        "github", r"^acme/saml-identities$", "skipped", r"org owner",
        prepare=lambda s, c: setattr(s, "gql_SamlIdentities", lambda v: {
            "data": {"organization": {"samlIdentityProvider": None}},
            "errors": [{"type": "FORBIDDEN", "path": ["organization", "samlIdentityProvider"],
                        "message": "acme-scanner does not have permission to view the SAML identity provider."}]})),
    "gitlab Admin Mode without admin_mode": Case(
        "gitlab", r":admin-mode$", "skipped", r"admin_mode", prepare=gl_admin_mode),
    "gitlab audit events 403": Case(
        "gitlab", r":audit events$", "skipped", r"administrator", faults=[(r"^/api/v4/audit_events$", GL_403)]),
    "gitlab credentials inventory 403 (not the top-level Owner)": Case(
        "gitlab", r":credentials inventory of personal access tokens$", "skipped",
        r"Owner of the top-level group, Ultimate", prepare=gl_developer),
    "gitlab group access tokens 403": Case(
        "gitlab", r":group access tokens$", "skipped", r"needs Owner",
        faults=[(r"^/api/v4/groups/\d+/access_tokens$", GL_403)]),
    "okta API tokens 403 E0000006": Case(
        "okta", r"/api-tokens$", "skipped", r"okta\.apiTokens\.read", faults=[(r"^/api/v1/api-tokens$", OKTA_403)]),
    "scim Groups 403": Case(
        "scim", r"^slack/Groups$", "skipped", r"read access to /Groups", faults=[(r"^/Groups$", SCIM_403)]),
    "kubernetes secrets 403": Case(
        "kubernetes", r"^prod$", "partial", r"needs list on secrets",
        prepare=lambda s, c: s.forbidden.add("secrets")),
    "aws ListServiceSpecificCredentials AccessDenied": Case(
        "aws", r"/iam:service_specific_credentials$", "skipped", r"iam:ListServiceSpecificCredentials",
        faults=[(r"^/ListServiceSpecificCredentials$", aws_error("AccessDenied", 403))]),
    "entra servicePrincipals 403 Authorization_RequestDenied": Case(
        "entra", r"/servicePrincipals$", "skipped", r"Authorization_RequestDenied.*Application\.Read\.All",
        faults=[(r"^/v1\.0/servicePrincipals$", {"status": 403})]),
    "entra employeeLeaveDateTime null without User-LifeCycleInfo.Read.All": Case(
        "entra", r"/users\.employeeLeaveDateTime$", "skipped", r"User-LifeCycleInfo\.Read\.All",
        prepare=lambda s, c: setattr(s.tenant.clients[c["client_id"]], "roles",
                                     frozenset({"User.Read.All", "Application.Read.All"}))),
    "azure PIM eligibility AuthorizationFailed": Case(
        "azure", r"/roleEligibilityScheduleInstances$", "skipped", r"roleEligibilityScheduleInstances/read",
        prepare=lambda s, c: s.tenant.clients[c["client_id"]].denied_actions.add(
            "Microsoft.Authorization/roleEligibilityScheduleInstances/read")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_scope_error_is_a_row_that_names_what_is_missing(case, tmp_path, monkeypatch):
    c = CASES[case]
    out = run_case(SPECS[c.fake], tmp_path, monkeypatch, faults=list(c.faults), prepare=c.prepare)
    rows = [r for r in out.coverage if re.search(c.target, r.target)]
    assert rows, [(r.target, r.status) for r in out.coverage]
    (row,) = rows
    assert row.status == c.status, (row.status, row.error)
    assert re.search(c.names, row.error or ""), row.error

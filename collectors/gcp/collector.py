"""Google Cloud: service-account keys and IAM bindings that outlive the people behind them.

Why: a user-managed service-account key is valid until 9999 whoever made it and
wherever they took it; IAM policies keep naming a leaver (or ``deleted:user:...``) after
the Workspace account is gone, and a binding on a service account a leaver owned still
lets whoever holds its key in.

Target: an ``organization``, ``folders`` or ``projects`` (one block = one target).
Credentials: ``credentials_file`` (a service-account key) or Application Default
Credentials, scope ``cloud-platform``.

What it reads, per target:
- Cloud Asset Inventory where it is enabled (``asset_inventory: auto``):
  ``searchAllResources`` (projects and service accounts, 500 a page) and
  ``searchAllIamPolicies`` (every policy with its bindings, 500 a page);
- otherwise (403 SERVICE_DISABLED or a missing ``cloudasset.assets.search*`` permission,
  or ``asset_inventory: off``), the IAM API: Resource Manager ``folders.search`` /
  ``projects.search`` / ``getIamPolicy``, ``serviceAccounts.list`` and ``getIamPolicy``
  per service account;
- Cloud Logging ``entries.list`` over the projects (100 a request) for
  ``google.iam.admin.v1.CreateServiceAccountKey``: who created each key, where the
  400-day Admin Activity log still has it;
- user-managed keys. ``keys: asset`` (the default) reads every key from the Cloud Asset
  search (``iam.googleapis.com/ServiceAccountKey``, a call per 500 keys), falling back to
  ``keys.list?keyTypes=USER_MANAGED`` per service account where Cloud Asset is not used
  (the IAM API has no listing across accounts). ``keys: iam`` always lists per account.
  ``keys: leavers`` lists, in the deep pass, only the keys of the service accounts tied to
  a leaver: owned by one (``owner:`` in the description), with a key one created (the
  audit log), or whose own policy names one; the budget then grows with leavers, not with
  the estate, but the other accounts' keys are not checked: a ``skipped`` row, and the
  target is ``partial`` (a service account tied to a leaver only through the roster is
  among them), so the cloud layer reads ``incomplete``, never ``clean``.

A targeted run (``verify --live``, a watch event: ``collect`` with a scope) lists, with
``keys: iam`` or ``leavers``, only the keys of the service accounts tied to the people in
scope (as above, or linked to them by the last scans: ``Scope.accounts``).

A permission the principal lacks on one part is a ``skipped`` row naming the role, and the
target is ``partial``: never ``clean`` on what was not read.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Iterable

from collectors.base import Collector, Scope, TargetRun
from collectors.gcp import transform as t
from collectors.google_client import AUTH, GoogleApiError, GoogleClient, key_file
from scanner.core.options import Option
from scanner.core.store import Sink
from scanner.core.model import Account, Resource

log = logging.getLogger("residual.collectors.gcp")

SCOPES = [AUTH + "cloud-platform"]
PROJECT_T, SA_T = "cloudresourcemanager.googleapis.com/Project", "iam.googleapis.com/ServiceAccount"
KEY_T = "iam.googleapis.com/ServiceAccountKey"
ASSET_FIELDS = ("name,assetType,project,displayName,description,state,additionalAttributes,"
                "parentFullResourceName,versionedResources")
ROLES = {  # what a part needs, for the skipped row
    "asset": "roles/cloudasset.viewer (cloudasset.assets.searchAllResources, searchAllIamPolicies)",
    "projects": "roles/browser (resourcemanager.projects.list/get, folders.list)",
    "policies": "roles/iam.securityReviewer (resourcemanager.*.getIamPolicy, iam.serviceAccounts.getIamPolicy)",
    "service accounts": "roles/iam.securityReviewer (iam.serviceAccounts.list)",
    "keys": "roles/iam.securityReviewer (iam.serviceAccountKeys.list)",
    "audit log": "roles/logging.viewer (logging.logEntries.list on the Admin Activity logs)",
    "key usage": "roles/policyanalyzer.activityAnalysisViewer "
                 "(policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query) and the Policy Analyzer API",
}
LOG_RETENTION_DAYS = 400


class GcpCollector(Collector):
    name = "gcp"
    layer = "cloud"
    options = {
        "organization": Option(str),  # the organisation number (or organizations/N)
        "folders": Option(list, item_type=str),
        "projects": Option(list, item_type=str),  # project ids
        "name": Option(str),  # the source label; default: the target
        "credentials_file": Option(str),  # default: Application Default Credentials
        "api_endpoint": Option(str),
        "asset_inventory": Option(str, default="auto", choices=("auto", "off")),
        # keys: "asset" reads them with the Cloud Asset search (a call per 500 keys),
        # falling back to "iam" where Cloud Asset is not used; "iam" every account's keys
        # (a call per account); "leavers" the keys of the service accounts tied to a
        # leaver, in the deep pass (a call per such account; the rest not checked: partial)
        "keys": Option(str, default="asset", choices=("asset", "iam", "leavers")),
        "audit_log": Option(bool, default=True),
        # when each user-managed key last authenticated (Activity Analyzer, a call per
        # project with keys): a key never seen authenticating is aged from its creation
        "key_usage": Option(bool, default=True),
    }

    def __init__(self, config: dict[str, Any], context: Any):
        super().__init__(config, context)
        self._client: GoogleClient | None = None
        # from the bulk pass, for the deep pass: what ties a service account to a person
        self._accounts: dict[str, Account] = {}  # by e-mail
        self._creators: dict[str, dict[str, Any]] = {}  # key id -> who created it
        self._creator_sas: dict[str, set[str]] = {}  # SA e-mail -> who created a key of it
        self._sa_members: dict[str, set[str]] = {}  # SA e-mail -> e-mails its own policy names
        self._listed: set[str] = set()  # SA e-mails whose keys were read
        self._targeted = False
        self._keys_read = False

    @classmethod
    def check_config(cls, block: dict[str, Any]) -> str | None:
        given = [k for k in ("organization", "folders", "projects") if block.get(k)]
        if len(given) != 1:
            return ("organization: give exactly one of organization, folders or projects"
                    + (f" (got {', '.join(given)})" if given else ""))
        return None

    # --- target ------------------------------------------------------------------------
    @property
    def scopes(self) -> list[str]:
        """The Asset/Resource Manager scopes: ``organizations/N``, ``folders/N`` or ``projects/P``."""
        org = self.config.get("organization")
        if org:
            return [org if str(org).startswith("organizations/") else f"organizations/{org}"]
        if self.config.get("folders"):
            return [f if f.startswith("folders/") else f"folders/{f}" for f in self.config["folders"]]
        return [f"projects/{p.removeprefix('projects/')}" for p in self.config.get("projects") or []]

    @property
    def label(self) -> str:
        if self.config.get("name"):
            return str(self.config["name"])
        s = self.scopes
        return s[0].split("/", 1)[1] if len(s) == 1 else ",".join(x.split("/", 1)[1] for x in s)

    @property
    def source(self) -> str:
        return f"{t.SYSTEM}:{self.label}"

    def describe(self) -> str:
        return self.source

    def client(self) -> GoogleClient:
        if self._client is None:
            self._client = GoogleClient(scopes=SCOPES, credentials_file=key_file(self.config, self.ctx.base_dir),
                                        endpoint=self.config.get("api_endpoint"), timeout=self.ctx.timeout_s,
                                        max_retries=self.ctx.max_retries, max_pages=self.ctx.max_pages,
                                        on_call=self.count_call)
        return self._client

    @property
    def keys_mode(self) -> str:
        return str(self.config.get("keys") or "asset")

    # --- the pass ----------------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        """Bulk pass; with a scope (a targeted run), keys are listed in the deep pass for
        the service accounts tied to the people in scope only, whatever ``keys`` says."""
        self._targeted = scope is not None
        self._keys_read = False  # every key of the target read in the bulk pass
        with self.target(sink, ",".join(self.scopes)) as run:
            client = self.client()
            asset = self.config.get("asset_inventory", "auto") != "off"
            projects, accounts, policies, asset_keys = None, None, None, None
            if asset:
                try:
                    projects, accounts, asset_keys = self._asset_resources(client)
                    policies = self._asset_policies(client)
                    run.attributes["source_api"] = "cloudasset"
                except GoogleApiError as exc:
                    if not (exc.skippable or exc.kind == "not_found"):
                        raise
                    # not a gap: the IAM API below reads the same, at a call per project/account
                    self.emit_coverage(sink, f"{','.join(self.scopes)}/cloudasset", self.layer, "skipped",
                                       error=f"{exc} (Cloud Asset needs the API enabled and {ROLES['asset']}; "
                                             "read through the IAM API instead)")
                    projects = accounts = policies = asset_keys = None
            if projects is None:
                run.attributes["source_api"] = "iam"
                projects = self._part(sink, run, "projects", lambda: self._crm_projects(client)) or []
            sink.emit_all(projects)
            live = [p for p in projects if p.kind == "project" and p.attributes.get("state") in (None, "ACTIVE")]
            if accounts is None:
                accounts = self._part(sink, run, "service accounts", lambda: self._iam_accounts(client, live)) or []
            sink.emit_all(accounts)
            by_email = {a.native_id: a for a in accounts}
            self._accounts = by_email
            if policies is None:
                policies = self._part(sink, run, "policies",
                                      lambda: self._iam_policies(client, projects, accounts)) or []
            self._sa_members = {}
            self._emit_policies(sink, run, policies, projects, by_email)
            self._creators = {}
            log_projects = live or sorted({a.attributes.get("project") for a in accounts} - {None})
            if self.config.get("audit_log", True) and log_projects:
                self._creators = self._part(sink, run, "audit log",
                                            lambda: self._creators_of(client, log_projects)) or {}
                run.attributes["key_creators_known"] = len(self._creators)
            self._creator_sas = {}
            for c in self._creators.values():
                if c.get("service_account"):
                    self._creator_sas.setdefault(c["service_account"], set()).add(c["principal"])
            if asset_keys is not None:  # every key, already read with the resources
                self._emit_keys(sink, run, asset_keys, accounts)
            elif self.keys_mode == "leavers" or self._targeted:
                run.attributes["keys_from"] = "deep pass: service accounts tied to the people in scope"
                if not self._targeted:
                    what = "keys of service accounts not tied to a leaver"
                    self.emit_coverage(
                        sink, f"{','.join(self.scopes)}/{what}", self.layer, "skipped",
                        error="not listed (keys: leavers asks only about the service accounts a leaver owns, "
                              "created a key of or is bound to; keys: asset or iam lists every account's keys)",
                        attributes={"service_accounts": len(accounts)})
                    run.partial(f"{what} not checked (keys: leavers)")
            else:
                self._part(sink, run, "keys", lambda: self._keys(client, sink, run, accounts))
            run.attributes.update({"projects": len(live), "service_accounts": len(accounts)})

    def tied_accounts(self, scope: Scope) -> list[Account]:
        """The service accounts the deep pass lists keys of: owned by a person in scope,
        with a key one of them created (audit log), or whose own policy names one; in a
        targeted run also the accounts the last scans tied to them."""
        emails = _emails(scope)
        out = []
        for email, acc in self._accounts.items():
            owner = (acc.attributes.get("tags") or {}).get("owner")
            if (owner in emails or self._creator_sas.get(email, set()) & emails
                    or self._sa_members.get(email, set()) & emails
                    or (self._targeted and acc.uid in scope.accounts)):
                out.append(acc)
        return sorted(out, key=lambda a: a.native_id)

    def deepen(self, sink: Sink, scope: Scope) -> None:
        if self._keys_read or (self.keys_mode != "leavers" and not self._targeted):
            return
        wanted = [a for a in self.tied_accounts(scope) if a.native_id not in self._listed]
        if not wanted:
            return
        with self.target(sink, f"{','.join(self.scopes)}/leavers") as run:
            run.attributes["service_accounts"] = len(wanted)
            self._part(sink, run, "keys", lambda: self._keys(self.client(), sink, run, wanted))

    def _part(self, sink: Sink, run: TargetRun, what: str, fn) -> Any:
        """Run one part; a refusal the principal can meet on it alone is a skipped row
        naming the role, and the target is partial."""
        try:
            return fn()
        except GoogleApiError as exc:
            if not (exc.skippable or exc.kind == "not_found"):
                raise
            self.emit_coverage(sink, f"{','.join(self.scopes)}/{what}", self.layer, "skipped",
                               error=f"{exc} (needs {ROLES[what]})")
            run.partial(f"{what} not checked ({exc}): needs {ROLES[what]}")
            return None

    # --- Cloud Asset -------------------------------------------------------------------
    def _asset_resources(self, client: GoogleClient) -> tuple[list[Resource], list[Account], list | None]:
        """Projects, service accounts and (``keys: asset``) keys: (parent SA name, key)."""
        a = client.service("cloudasset", "v1")
        projects, accounts = [], []
        with_keys = self.keys_mode == "asset"
        keys: list[tuple[str, dict]] | None = [] if with_keys else None
        types = [PROJECT_T, SA_T] + ([KEY_T] if with_keys else [])
        mask = {"readMask": ASSET_FIELDS} if with_keys else {}
        for scope in self.scopes:
            for r in client.pages(lambda tok: a.v1().searchAllResources(
                    scope=scope, assetTypes=types, pageSize=500, pageToken=tok, **mask),
                    "results", "searchAllResources"):
                try:
                    if r.get("assetType") == KEY_T and keys is not None:
                        resource = (r.get("versionedResources") or [{}])[0].get("resource")
                        if not isinstance(resource, dict):
                            raise ValueError("key asset without its resource")
                        keys.append((str(r.get("parentFullResourceName") or ""), resource))
                    elif r.get("assetType") == PROJECT_T:
                        attrs = r.get("additionalAttributes") or {}
                        projects.append(t.transform_container(
                            {"name": str(r.get("project") or r["name"]).replace(t.CRM, ""),
                             "projectId": attrs.get("projectId"), "state": r.get("state"),
                             "displayName": r.get("displayName"),
                             "parent": str(r.get("parentFullResourceName") or "").replace(t.CRM, "")},
                            self.source, "project"))
                    elif r.get("assetType") == SA_T:
                        accounts.append(t.transform_service_account(t.service_account_from_asset(r), self.source))
                except (ValueError, KeyError, AttributeError):
                    log.warning("%s: a malformed asset was skipped", self.source)
        return projects, accounts, keys

    def _asset_policies(self, client: GoogleClient) -> list[tuple[str, str, dict]]:
        a = client.service("cloudasset", "v1")
        out = []
        for scope in self.scopes:
            for r in client.pages(lambda tok: a.v1().searchAllIamPolicies(scope=scope, pageSize=500, pageToken=tok),
                                  "results", "searchAllIamPolicies"):
                if isinstance(r, dict) and r.get("resource") and isinstance(r.get("policy"), dict):
                    name, kind = t.policy_resource_name(str(r["resource"]))
                    out.append((name, kind, r["policy"]))
        return out

    # --- the IAM API fallback ----------------------------------------------------------
    def _crm_projects(self, client: GoogleClient) -> list[Resource]:
        crm = client.service("cloudresourcemanager", "v3")
        out: list[Resource] = []
        if all(s.startswith("projects/") for s in self.scopes):
            for s in self.scopes:
                p = client.execute(crm.projects().get(name=s), "projects.get")
                out.append(t.transform_container(p, self.source, "project"))
            return out
        folders = list(client.pages(lambda tok: crm.folders().search(pageSize=1000, pageToken=tok),
                                    "folders", "folders.search"))
        parent = {f.get("name"): f.get("parent") for f in folders if isinstance(f, dict)}

        def inside(name: str | None) -> bool:
            seen = 0
            while name and seen < 100:
                if name in self.scopes:
                    return True
                name, seen = parent.get(name), seen + 1
            return False

        out += [t.transform_container(f, self.source, "folder") for f in folders
                if isinstance(f, dict) and inside(f.get("name"))]
        for s in self.scopes:
            if s.startswith("organizations/"):
                out.append(Resource(system=t.SYSTEM, source=self.source, native_id=s, kind="organization", name=s))
        for p in client.pages(lambda tok: crm.projects().search(pageSize=1000, pageToken=tok),
                              "projects", "projects.search"):
            if isinstance(p, dict) and inside(p.get("parent")):
                out.append(t.transform_container(p, self.source, "project"))
        return out

    def _iam_accounts(self, client: GoogleClient, projects: list[Resource]) -> list[Account]:
        iam = client.service("iam", "v1")
        out = []
        for p in projects:
            for sa in client.pages(lambda tok: iam.projects().serviceAccounts().list(
                    name=p.native_id, pageSize=100, pageToken=tok), "accounts", "serviceAccounts.list"):
                try:
                    out.append(t.transform_service_account(sa, self.source))
                except ValueError:
                    log.warning("%s: a malformed service account was skipped", self.source)
        return out

    def _iam_policies(self, client: GoogleClient, containers: list[Resource],
                      accounts: list[Account]) -> list[tuple[str, str, dict]]:
        crm = client.service("cloudresourcemanager", "v3")
        iam = client.service("iam", "v1")
        out = []
        for c in containers:  # a DELETE_REQUESTED project too: restoring it restores its bindings
            api = {"project": crm.projects(), "folder": crm.folders(), "organization": crm.organizations()}[c.kind]
            out.append((c.native_id, c.kind, client.execute(api.getIamPolicy(resource=c.native_id, body={}),
                                                            f"{c.kind}s.getIamPolicy")))
        for a in accounts:
            res = t.sa_resource(a, self.source).native_id
            out.append((res, "service_account", client.execute(
                iam.projects().serviceAccounts().getIamPolicy(resource=res), "serviceAccounts.getIamPolicy")))
        return out

    # --- records -----------------------------------------------------------------------
    def _emit_policies(self, sink: Sink, run: TargetRun, policies: list[tuple[str, str, dict]],
                       containers: list[Resource], by_email: dict[str, Account]) -> None:
        known = {c.native_id: c for c in containers}
        for name, kind, policy in policies:
            res = known.get(name)
            if res is None:
                if kind == "service_account":
                    email = name.rsplit("/", 1)[-1].lower()
                    acc = by_email.get(email) or next((a for a in by_email.values()
                                                       if a.attributes.get("unique_id") == email), None)
                    res = t.sa_resource(acc, self.source) if acc else Resource(
                        system=t.SYSTEM, source=self.source, native_id=name, kind=kind, name=name)
                else:
                    res = Resource(system=t.SYSTEM, source=self.source, native_id=name, kind=kind, name=name)
                known[name] = res
                sink.emit(res)
            try:
                grants = t.transform_policy(policy, self.source, res, by_email)
                sink.emit_all(grants)
                if res.kind == "service_account":  # who may act as it: its keys matter to them
                    sa = (res.name or "").lower()
                    self._sa_members.setdefault(sa, set()).update(
                        str(g.attributes.get("email")) for g in grants if g.attributes.get("email"))
            except ValueError:
                run.partial(f"a malformed policy of {name} was skipped")

    def _creators_of(self, client: GoogleClient, projects: list) -> dict[str, dict[str, Any]]:
        lg = client.service("logging", "v2")
        since = (self.ctx.now - timedelta(days=LOG_RETENTION_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
        flt = (f'protoPayload.methodName="{t.CREATE_KEY}" AND resource.type="service_account" '
               f'AND timestamp>="{since}"')
        entries: list[Any] = []
        names = [p.native_id if isinstance(p, Resource) else f"projects/{p}" for p in projects]
        for i in range(0, len(names), 100):
            body = {"resourceNames": names[i:i + 100], "filter": flt, "orderBy": "timestamp asc",
                    "pageSize": 1000}
            entries += client.pages(lambda tok: lg.entries().list(body={**body, **({"pageToken": tok} if tok else {})}),
                                    "entries", "entries.list")
        return t.key_creators(entries)

    def _emit_keys(self, sink: Sink, run: TargetRun, keys: list[tuple[str, dict]],
                   accounts: list[Account]) -> None:
        """Keys from the Cloud Asset search, each tied to its service account by the
        parent's unique id."""
        by_unique = {str(a.attributes.get("unique_id")): a for a in accounts}
        creds = []
        for parent, k in keys:
            acc = by_unique.get(parent.rsplit("/", 1)[-1])
            if acc is None:
                run.partial(f"a key of an unknown service account was skipped ({parent.rsplit('/', 1)[-1]})")
                continue
            try:
                cred = t.transform_key(k, self.source, acc, self._creators)
            except ValueError:
                run.partial(f"a malformed key of {acc.native_id} was skipped")
                continue
            if cred is not None:
                creds.append(cred)
        self._emit_with_usage(sink, run, creds)
        run.attributes["keys_from"] = "cloudasset"
        self._keys_read = True

    def _keys(self, client: GoogleClient, sink: Sink, run: TargetRun, accounts: Iterable[Account]) -> None:
        iam = client.service("iam", "v1")
        creds = []
        for acc in accounts:
            self._listed.add(acc.native_id)
            name = f"projects/{acc.attributes.get('project')}/serviceAccounts/{acc.native_id}"
            try:
                body = client.execute(iam.projects().serviceAccounts().keys().list(
                    name=name, keyTypes="USER_MANAGED"), "keys.list")
            except GoogleApiError as exc:
                if exc.kind == "not_found":  # deleted since it was listed
                    continue
                raise
            for k in body.get("keys") or []:
                try:
                    cred = t.transform_key(k, self.source, acc, self._creators)
                except ValueError:
                    run.partial(f"a malformed key of {acc.native_id} was skipped")
                    continue
                if cred is not None:
                    creds.append(cred)
        self._emit_with_usage(sink, run, creds)

    def _emit_with_usage(self, sink: Sink, run: TargetRun, creds: list[Any]) -> None:
        """Emit the keys, each with its last authentication where Activity Analyzer was
        asked (``key_usage``) and answered for its project; where it was not, the key's
        use stays unknown (never "never used") and the target is partial."""
        projects = sorted({str(c.attributes.get("project")) for c in creds if c.attributes.get("project")})
        usage = None
        if creds and self.config.get("key_usage", True):
            usage = self._part(sink, run, "key usage", lambda: self._key_usage(self.client(), projects))
        for c in creds:
            sink.emit(t.with_key_usage(c, usage) if usage is not None else c)
        run.attributes["user_managed_keys"] = run.attributes.get("user_managed_keys", 0) + len(creds)
        if usage is not None:
            run.attributes["keys_used"] = run.attributes.get("keys_used", 0) + \
                sum(1 for c in creds if c.attributes.get("key_id") in usage)

    def _key_usage(self, client: GoogleClient, projects: list[str]) -> dict[str, Any]:
        """Key id -> last authentication, over the projects that have user-managed keys."""
        pa = client.service("policyanalyzer", "v1")
        activities: list[Any] = []
        for project in projects:
            parent = f"projects/{project}/locations/global/activityTypes/serviceAccountKeyLastAuthentication"
            activities += client.pages(lambda tok: pa.projects().locations().activityTypes().activities().query(
                parent=parent, pageSize=1000, pageToken=tok), "activities", "activities.query")
        return t.key_last_auth(activities)


def _emails(scope: Scope | None) -> set[str]:
    return {e.lower() for e in (scope.emails if scope else ())}

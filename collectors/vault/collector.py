"""HashiCorp Vault: what a leaver can still do through Vault after the IdP let them go.

Why: Vault issues its own tokens. Disabling someone at the IdP stops new OIDC/LDAP
logins, but a token already issued lives until its TTL (often weeks), the entity keeps
its alias to the IdP login, AppRole secret IDs someone issued never expire unless told
to, and dynamic credentials (database users, cloud keys) leased to their token stay valid.

What it reads, per namespace (root, then each configured Enterprise namespace, with
``X-Vault-Namespace``), get -> transform (transform.py, pure) -> load:
- identity entities: LIST ``identity/entity/id`` + one read each -> Account;
- tokens: LIST ``auth/token/accessors`` (needs ``sudo``) + one ``lookup-accessor`` each,
  at bounded concurrency (``concurrency``), at most ``max_tokens`` lookups (beyond it
  the namespace is ``partial`` and coverage says how many were not looked up) ->
  Credential(kind="vault_token");
- AppRole: the approle mounts (``sys/auth``), LIST roles, LIST each role's secret-id
  accessors + one lookup each -> Credential(kind="secret_id");
- leases under ``lease_prefixes`` (LIST ``sys/leases/lookup/<prefix>`` recursively, one
  ``sys/leases/lookup`` each) -> Credential(kind="lease");
- ACL policies (LIST + read) -> Resource(kind="vault_policy"), and the KV v2 secrets of
  ``kv_mounts`` (metadata only: LIST + read of ``<mount>/metadata/<path>``, never a
  value) -> Resource(kind="kv_secret") with Grant(policy -> secret, "read").

Auth: a token, or a login by AppRole, Kubernetes or JWT (client.py). A 403 on a part is
that part missing (the namespace ``partial``, named in coverage, never clean); a part
that is not there (AppRole not mounted, a KV mount absent) is a ``skipped`` row.
Vault cannot be asked "by person", so a targeted run reads the whole namespace too.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from collectors.base import Collector, Scope, TargetRun
from scanner.core.http import bounded_pages
from scanner.core.model import Credential, Resource
from scanner.core.options import Option
from scanner.core.store import Sink

from collectors.vault import transform as tf
from collectors.vault import SYSTEMS
from collectors.vault.client import AUTH_METHODS, VaultClients, VaultError, call, keys

log = logging.getLogger("residual.collectors.vault")

SYSTEM = tf.SYSTEM
LAYER = SYSTEMS[SYSTEM]
# statuses at which a part is missing for want of permission (partial) rather than broken
DENIED = (403,)


class VaultCollector(Collector):
    name = "vault"
    layer = LAYER
    options = {
        "url": Option(str, required=True),
        "name": Option(str, default="vault"),
        "auth_method": Option(str, default="token", choices=AUTH_METHODS),
        "token": Option(str, secret=True),
        "role_id": Option(str),
        "secret_id": Option(str, secret=True),
        "role": Option(str),  # Kubernetes / JWT role
        "jwt": Option(str, secret=True),
        "jwt_path": Option(str),  # default: the pod's service-account token
        "auth_mount": Option(str),  # default: the method's name
        "auth_namespace": Option(str),  # where the login happens (default: root)
        "namespaces": Option(list, default=[], item_type=str),  # Enterprise namespaces besides root
        "concurrency": Option(int, default=8),
        "max_tokens": Option(int, default=50_000),
        "max_leases": Option(int, default=20_000),
        "max_kv_secrets": Option(int, default=20_000),
        "lease_prefixes": Option(list, default=[], item_type=str),
        "kv_mounts": Option(list, default=["secret"], item_type=str),
        "approle_mounts": Option(list, item_type=str),  # default: every approle mount in sys/auth
        "tls_verify": Option(bool, default=True),
        "ca_cert": Option(str),
    }

    def __init__(self, config: dict[str, Any], context) -> None:
        super().__init__(config, context)
        self._count_lock = threading.Lock()

    @property
    def source(self) -> str:
        return f"vault:{self.config.get('name') or 'vault'}"

    def describe(self) -> str:
        return self.source

    def count_call(self, n: int = 1) -> None:
        with self._count_lock:  # lookups run in several threads
            self.calls += n

    def clients(self) -> VaultClients:
        return VaultClients(self.config["url"], self.config, timeout=self.ctx.timeout_s,
                            max_retries=self.ctx.max_retries, on_call=self.count_call,
                            base_dir=self.ctx.base_dir)

    def namespaces(self) -> list[str]:
        extra = [str(n).strip("/") for n in self.config.get("namespaces") or [] if str(n).strip("/")]
        return [""] + sorted(set(extra))

    # --- the bulk pass ----------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        clients = self.clients()
        name = self.config.get("name") or "vault"
        for ns in self.namespaces():
            with self.target(sink, f"{name}/{ns}" if ns else name) as run:
                run.attributes["namespace"] = tf.ns_label(ns)
                self.collect_namespace(clients, ns, sink, run)

    def collect_namespace(self, clients: VaultClients, ns: str, sink: Sink, run: TargetRun) -> None:
        c = clients.get(ns)
        self.part(run, "entities", lambda: self.collect_entities(c, ns, sink, run),
                  "list on identity/entity/id, read on identity/entity/id/*")
        tokens = self.part(run, "tokens", lambda: self.collect_tokens(clients, ns, sink, run),
                           "list+sudo on auth/token/accessors, update on auth/token/lookup-accessor") or []
        self.part(run, "approle", lambda: self.collect_approle(c, ns, sink, run),
                  "list on auth/approle/role/+/secret-id, update on .../secret-id-accessor/lookup")
        policies = self.part(run, "policies", lambda: self.collect_policies(c, ns, sink, run),
                             "list on sys/policies/acl, read on sys/policies/acl/*") or []
        leases = self.part(run, "leases", lambda: self.collect_leases(c, ns, sink, run, policies),
                           "list+sudo on sys/leases/lookup/*, update on sys/leases/lookup") or []
        secrets = self.part(run, "kv", lambda: self.collect_kv(c, ns, sink, run),
                            "list+read on <mount>/metadata/*") or []
        sink.emit_all(tf.kv_grants(policies, secrets, self.source))
        run.attributes.update({"tokens": len(tokens), "leases": len(leases), "kv_secrets": len(secrets),
                               "policies": len(policies)})

    def part(self, run: TargetRun, what: str, fn, needs: str) -> Any:
        """One part of a namespace: a 403 makes the namespace partial (naming the missing
        capability); anything else that stops Vault from answering fails the namespace."""
        try:
            return fn()
        except VaultError as exc:
            if exc.status in DENIED or exc.status == 400:
                run.partial(f"{what}: {exc} (needs {needs})")
                return None
            raise

    # --- entities ---------------------------------------------------------------------
    def collect_entities(self, c, ns: str, sink: Sink, run: TargetRun) -> None:
        ids = keys(call(lambda: c.secrets.identity.list_entities(method="LIST"), "LIST identity/entity/id",
                        missing_ok=True))
        bad = 0
        for eid in ids:
            resp = call(lambda: c.secrets.identity.read_entity(eid), f"read entity {eid}", missing_ok=True)
            if resp is None:
                continue  # deleted between the list and the read
            try:
                sink.emit(tf.transform_entity(resp, self.source, ns))
            except ValueError:
                bad += 1
        if bad:
            run.partial(f"{bad} malformed entities skipped")
        run.attributes["entities"] = len(ids)

    # --- tokens -------------------------------------------------------------------------
    def collect_tokens(self, clients: VaultClients, ns: str, sink: Sink, run: TargetRun) -> list[Credential]:
        c = clients.get(ns)
        accessors = keys(call(lambda: c.auth.token.list_accessors(), "LIST auth/token/accessors",
                              missing_ok=True))
        cap = max(0, int(self.config.get("max_tokens") or 0))
        wanted = accessors[:cap]
        run.attributes.update({"token_accessors": len(accessors), "tokens_looked_up": len(wanted)})
        if len(accessors) > cap:
            run.attributes["tokens_not_looked_up"] = len(accessors) - cap
            run.partial(f"max_tokens {cap}: {len(accessors) - cap} of {len(accessors)} token accessors "
                        "not looked up")
        out: list[Credential] = []
        gone = bad = 0
        for result in self.lookups(clients, ns, wanted):
            if result is None:
                gone += 1
            elif isinstance(result, Credential):
                out.append(result)
            else:
                bad += 1
        sink.emit_all(out)
        if gone:
            run.attributes["tokens_gone"] = gone  # expired or revoked between list and lookup
        if bad:
            run.partial(f"{bad} token lookups unreadable")
        return out

    def lookups(self, clients: VaultClients, ns: str, accessors: list[str]) -> Iterator[Any]:
        """One ``lookup-accessor`` per accessor, ``concurrency`` at a time, in order.
        Yields a Credential, None (the token is gone: 400 invalid accessor) or False
        (a malformed answer); a 403 or a dead Vault raises."""
        def one(accessor: str) -> Any:
            c = clients.get(ns)
            try:
                resp = call(lambda: c.auth.token.lookup_accessor(accessor), "lookup-accessor")
            except VaultError as exc:
                if exc.status == 400:
                    return None
                raise
            try:
                return tf.transform_token(resp, self.source, ns)
            except ValueError:
                return False

        workers = max(1, int(self.config.get("concurrency") or 1))
        if workers == 1 or len(accessors) < 2:
            yield from map(one, accessors)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vault-lookup") as pool:
            # bounded: at most 4 x workers lookups in flight or waiting, whatever the estate
            window = workers * 4
            pending = []
            for accessor in accessors:
                pending.append(pool.submit(one, accessor))
                if len(pending) >= window:
                    yield pending.pop(0).result()
            for fut in pending:
                yield fut.result()

    # --- AppRole ---------------------------------------------------------------------------
    def approle_mounts(self, c, run: TargetRun) -> list[str]:
        configured = self.config.get("approle_mounts")
        if configured:
            return [str(m).strip("/") for m in configured]
        try:
            resp = call(lambda: c.sys.list_auth_methods(), "GET sys/auth")
        except VaultError as exc:
            if exc.status not in DENIED:
                raise
            return ["approle"]  # cannot list mounts: try the default path
        data = resp.get("data") if isinstance(resp, dict) and isinstance(resp.get("data"), dict) else resp
        return sorted(str(p).strip("/") for p, m in (data or {}).items()
                      if isinstance(m, dict) and m.get("type") == "approle")

    def collect_approle(self, c, ns: str, sink: Sink, run: TargetRun) -> None:
        mounts = self.approle_mounts(c, run)
        if not mounts:
            self.emit_coverage(sink, f"{run.target}/approle", LAYER, "skipped",
                               error="no AppRole auth method mounted")
            return
        count = 0
        for mount in mounts:
            roles = keys(call(lambda: c.auth.approle.list_roles(mount_point=mount),
                              f"LIST auth/{mount}/role", missing_ok=True))
            for role in roles:
                accessors = keys(call(lambda: c.auth.approle.list_secret_id_accessors(role, mount_point=mount),
                                      f"LIST auth/{mount}/role/{role}/secret-id", missing_ok=True))
                for acc in accessors:
                    resp = call(lambda: c.auth.approle.read_secret_id_accessor(role, acc, mount_point=mount),
                                f"secret-id-accessor lookup ({role})", missing_ok=True)
                    if resp is None:
                        continue
                    try:
                        cred = tf.transform_secret_id(resp, self.source, ns, role)
                    except ValueError:
                        run.partial(f"a malformed secret-id of role {role} was skipped")
                        continue
                    cred.attributes["mount"] = mount
                    sink.emit(cred)
                    count += 1
        run.attributes["secret_ids"] = count

    # --- policies, leases, KV ------------------------------------------------------------------
    def collect_policies(self, c, ns: str, sink: Sink, run: TargetRun) -> list[Resource]:
        names = keys(call(lambda: c.sys.list_acl_policies(), "LIST sys/policies/acl", missing_ok=True))
        out = []
        for name in names:
            if name == "root":
                continue  # built in: grants everything, has no document
            resp = call(lambda: c.sys.read_acl_policy(name), f"read policy {name}", missing_ok=True)
            if resp is None:
                continue
            try:
                out.append(tf.transform_policy(resp, self.source, ns, name))
            except ValueError:
                run.partial(f"policy {name} unreadable")
        sink.emit_all(out)
        return out

    def walk(self, list_fn, prefix: str, limit: int, what: str) -> Iterator[str]:
        """Every leaf key under ``prefix`` of a LIST endpoint whose sub-prefixes end in
        ``/`` (depth-first), at most ``limit``; more raises (the part is cut, visibly)."""
        stack = [prefix.strip("/") + "/" if prefix.strip("/") else ""]
        seen = 0
        pages = bounded_pages(self.ctx.max_pages, what)
        while stack:
            next(pages)
            here = stack.pop()
            for key in keys(call(lambda: list_fn(here), f"LIST {what} {here}", missing_ok=True)):
                if key.endswith("/"):
                    stack.append(here + key)
                    continue
                seen += 1
                if seen > limit:
                    raise VaultError(f"{what}: more than {limit} under {prefix or '/'}, listing cut", 400)
                yield here + key

    def collect_leases(self, c, ns: str, sink: Sink, run: TargetRun,
                       policies: list[Resource]) -> list[Credential]:
        prefixes = [str(p).strip("/") for p in self.config.get("lease_prefixes") or []]
        if not prefixes:
            self.emit_coverage(sink, f"{run.target}/leases", LAYER, "skipped",
                               error="no lease_prefixes configured: dynamic credentials not read")
            return []
        out: list[Credential] = []
        limit = int(self.config.get("max_leases") or 0)
        for prefix in prefixes:
            for lid in self.walk(lambda p: c.sys.list_leases(p), prefix, limit, "sys/leases/lookup"):
                resp = call(lambda: c.sys.read_lease(lid), "sys/leases/lookup", missing_ok=True)
                if resp is None:
                    continue
                try:
                    out.append(tf.transform_lease(resp, self.source, ns, prefix))
                except ValueError:
                    continue  # expired between the list and the lookup (400 invalid lease)
        issuers = tf.lease_grants(policies, out)
        for lease in out:
            lease.attributes["issuable_by_policies"] = issuers.get(lease.uid, [])
        sink.emit_all(out)
        return out

    def collect_kv(self, c, ns: str, sink: Sink, run: TargetRun) -> list[Resource]:
        out: list[Resource] = []
        limit = int(self.config.get("max_kv_secrets") or 0)
        for mount in [str(m).strip("/") for m in self.config.get("kv_mounts") or []]:
            kv = c.secrets.kv.v2

            def listing(p: str, mount: str = mount) -> Any:
                return kv.list_secrets(path=p, mount_point=mount)
            try:  # an empty mount answers 404 too, but without "no handler for route"
                call(lambda: listing(""), f"LIST {mount}/metadata")
            except VaultError as exc:
                if exc.status == 404 and "no handler" in str(exc):
                    self.emit_coverage(sink, f"{run.target}/kv:{mount}", LAYER, "skipped",
                                       error=f"KV v2 mount {mount} not found")
                    continue
                if exc.status != 404:
                    raise
            paths = list(self.walk(listing, "", limit, f"{mount}/metadata"))
            for path in paths:
                resp = call(lambda: kv.read_secret_metadata(path=path, mount_point=mount),
                            f"read {mount}/metadata/{path}", missing_ok=True)
                if resp is None:
                    continue
                try:
                    out.append(tf.transform_kv(resp, self.source, ns, mount, path))
                except ValueError:
                    run.partial(f"metadata of {mount}/{path} unreadable")
        sink.emit_all(out)
        return out

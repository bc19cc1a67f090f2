"""Shared set-up for the entra/azure tests: the fake tenant with extra clients, collector
blocks pointing at it, and one collector run into an in-memory inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.azure.collector import AzureCollector
from collectors.base import CollectorContext, Scope
from collectors.entra.collector import EntraCollector
from fixtures.fake_microsoft import (DEMO_CLIENT, DEMO_SECRET, DEMO_TENANT, READ_ROLES, Client,
                                     FakeMicrosoft, demo_tenant)
from scanner.config import check_block
from scanner.core.store import Inventory, Sink
from scanner.core.model import Account, Activity, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RESTRICTED = "0be5e1f0-0000-4000-8000-000000000002"  # User.Read.All only, Reader nowhere
RESTRICTED_SECRET = "restricted-secret-not-real"
SRC = f"entra:{DEMO_TENANT}"


def tenant_with_clients():
    t = demo_tenant()
    t.add_client(Client(RESTRICTED, secret=RESTRICTED_SECRET, roles=frozenset({"User.Read.All"}),
                        subscriptions=set(), object_id="5c000000-0000-4000-8000-000000000002"))
    return t


def entra_block(server: FakeMicrosoft, **kw: Any) -> dict[str, Any]:
    return {"tenant_id": DEMO_TENANT, "client_id": DEMO_CLIENT, "client_secret": DEMO_SECRET,
            "authority_host": server.url, "base_url": server.graph_url, "ca_bundle": server.ca_file, **kw}


def azure_block(server: FakeMicrosoft, **kw: Any) -> dict[str, Any]:
    return {"tenant_id": DEMO_TENANT, "client_id": DEMO_CLIENT, "client_secret": DEMO_SECRET,
            "authority_host": server.url, "arm_url": server.arm_url, "ca_bundle": server.ca_file, **kw}


@dataclass
class Run:
    inv: Inventory
    scan: str
    collector: Any
    records: dict[type, list[Any]] = field(default_factory=dict)

    def of(self, cls: type) -> list[Any]:
        return self.inv.load(cls, self.scan)

    def coverage(self, target_suffix: str = "") -> list[Coverage]:
        return [c for c in self.of(Coverage) if c.target.endswith(target_suffix)]


def run(cls: type, block: dict[str, Any], *, deep: Scope | None = None, scope: Scope | None = None,
        tmp: Path = Path("/tmp"), max_retries: int = 2, max_pages: int = 100) -> Run:
    name = "entra" if cls is EntraCollector else "azure"
    checked = check_block(block, cls.options, f"collectors.{name}[0]", tmp / "t.yaml")
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp / "cache", now=NOW,
                           base_dir=tmp, timeout_s=10.0, max_retries=max_retries, max_pages=max_pages)
    c = cls(checked, ctx)
    c.collect(sink, scope)
    if deep is not None:
        c.deepen(sink, deep)
    sink.flush()
    return Run(inv, scan, c)


__all__ = ["Account", "Activity", "AzureCollector", "Credential", "EntraCollector", "Grant", "NOW",
           "READ_ROLES", "RESTRICTED", "RESTRICTED_SECRET", "Resource", "Run", "SRC", "Scope",
           "azure_block", "entra_block", "run", "tenant_with_clients"]

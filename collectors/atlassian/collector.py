"""Atlassian Cloud: the API tokens an organization's managed accounts made (issue 21).

Why: an Atlassian API token acts as its user in Jira and Confluence until it expires
(a year) or is revoked; an account left active after its owner left keeps them working.

Reads (GET only, ``Authorization: Bearer <org admin API key>``): ``/admin/v1/orgs/{org}/
users`` and ``/admin/api-access/v1/orgs/{org}/api-tokens``, both paged by the absolute
``links.next`` URL (followed only on the configured origin).
"""

from __future__ import annotations

from collectors.base import Collector, Scope
from scanner.core.jsonapi import HttpError, JsonApi
from scanner.core.options import Option
from scanner.core.store import Sink

from collectors.atlassian import transform as tf
from collectors.atlassian import SYSTEMS

SYSTEM = tf.SYSTEM
LAYER = SYSTEMS[SYSTEM]


def error_text(body) -> str:
    errs = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errs, list) and errs and isinstance(errs[0], dict):
        return str(errs[0].get("title") or errs[0].get("code") or "")
    return ""


def next_link(body, params):
    nxt = (body.get("links") or {}).get("next") if isinstance(body.get("links"), dict) else None
    return (nxt, None) if nxt else None


class AtlassianCollector(Collector):
    name = "atlassian"
    layer = LAYER
    options = {"org_id": Option(str, required=True),
               "api_key": Option(str, required=True, secret=True),
               "name": Option(str),
               "base_url": Option(str, default="https://api.atlassian.com")}

    @property
    def label(self) -> str:
        return self.config.get("name") or self.config["org_id"]

    @property
    def source(self) -> str:
        return f"atlassian:{self.label}"

    def describe(self) -> str:
        return self.source

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        with self.target(sink, self.label) as run:
            api = JsonApi(self.config.get("base_url") or "https://api.atlassian.com",
                          {"Authorization": f"Bearer {self.config['api_key']}"}, timeout=self.ctx.timeout_s,
                          max_retries=self.ctx.max_retries, on_call=self.count_call,
                          max_pages=self.ctx.max_pages, error_text=error_text)
            org = self.config["org_id"]
            bad = 0
            for p in api.pages(f"/admin/v1/orgs/{org}/users", None, next_link):
                try:
                    sink.emit(tf.transform_user(p, self.source))
                except ValueError:
                    bad += 1
            try:
                tokens = list(api.pages(f"/admin/api-access/v1/orgs/{org}/api-tokens", None, next_link))
            except HttpError as exc:
                if exc.status not in (403, 404):
                    raise
                tokens = []  # the org's plan or the key's scope does not offer it: said so
                self.emit_coverage(sink, f"{self.label}/api-tokens", LAYER, "skipped",
                                   error=f"{exc} (listing API tokens needs an organization admin API key "
                                         "with API token access; tokens not checked)")
            for p in tokens:
                try:
                    sink.emit(tf.transform_token(p, self.source))
                except ValueError:
                    bad += 1
            if bad:
                run.partial(f"{bad} malformed items skipped")

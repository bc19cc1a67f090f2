"""Anthropic: Admin API keys with their creator, users and workspace members (issue 21).

Why: an Anthropic API key keeps working after the person who created it leaves; the key
names its creator (``created_by``) but no last use, so staleness comes from the usage
report.

Reads (GET only, ``x-api-key: <admin key>``, ``anthropic-version``, ``after_id`` paging):
``/v1/organizations/users``, ``/api_keys``, ``/workspaces`` and each one's ``/members``,
and ``/usage_report/messages`` grouped by ``api_key_id`` over the last
``usage_window_days`` (daily buckets, 31 a page: a few calls whatever the number of keys).
Keys are correlated with exposures by ``partial_key_hint`` (keyed).
"""

from __future__ import annotations

from datetime import timedelta

from collectors.base import Collector, Scope
from scanner.core.jsonapi import HttpError, JsonApi, after_cursor
from scanner.core.options import Option
from scanner.core.store import Sink

from collectors.anthropic import transform as tf
from collectors.anthropic import SYSTEMS

SYSTEM = tf.SYSTEM
LAYER = SYSTEMS[SYSTEM]
VERSION = "2023-06-01"


def error_text(body) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("message") or err.get("type") or "") if isinstance(err, dict) else ""


def next_usage_page(body, params):
    return ("", {**(params or {}), "page": body["next_page"]}) if body.get("has_more") and body.get("next_page") else None


class AnthropicCollector(Collector):
    name = "anthropic"
    layer = LAYER
    options = {"admin_key": Option(str, required=True, secret=True),
               "name": Option(str, default="anthropic"),
               "base_url": Option(str, default="https://api.anthropic.com"),
               "usage_window_days": Option(int, default=90)}

    @property
    def source(self) -> str:
        return f"anthropic:{self.config.get('name') or 'anthropic'}"

    def describe(self) -> str:
        return self.source

    def api(self) -> JsonApi:
        return JsonApi(self.config.get("base_url") or "https://api.anthropic.com",
                       {"x-api-key": self.config["admin_key"], "anthropic-version": VERSION},
                       timeout=self.ctx.timeout_s, max_retries=self.ctx.max_retries, on_call=self.count_call,
                       max_pages=self.ctx.max_pages, error_text=error_text)

    def listing(self, api: JsonApi, path: str):
        return api.pages(path, {"limit": 1000}, after_cursor("after_id"))

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        with self.target(sink, self.config.get("name") or "anthropic") as run:
            api = self.api()
            bad = 0
            for p in self.listing(api, "/v1/organizations/users"):
                try:
                    sink.emit(tf.transform_user(p, self.source))
                except ValueError:
                    bad += 1
            window = max(1, int(self.config.get("usage_window_days") or 90))
            used = self.usage(api, sink, run, window)
            for p in self.listing(api, "/v1/organizations/api_keys"):
                try:
                    sink.emit(tf.transform_key(p, self.source, self.ctx.fingerprinter,
                                               (used or {}).get(str(p.get("id"))) if isinstance(p, dict) else None,
                                               window if used is not None else 0))
                except ValueError:
                    bad += 1
            for p in self.listing(api, "/v1/organizations/workspaces"):
                try:
                    ws = tf.transform_workspace(p, self.source)
                except ValueError:
                    bad += 1
                    continue
                sink.emit(ws)
                for m in self.listing(api, f"/v1/organizations/workspaces/{ws.native_id.split(':', 1)[1]}/members"):
                    try:
                        sink.emit(tf.transform_member(m, self.source, ws))
                    except ValueError:
                        bad += 1
            if bad:
                run.partial(f"{bad} malformed items skipped")

    def usage(self, api: JsonApi, sink: Sink, run, window: int) -> dict | None:
        """Last use per key from the usage report; on 403/404 a skipped row, and keys
        carry no last use (the unused rule then cannot judge them: said in coverage)."""
        start = (self.ctx.now - timedelta(days=window)).strftime("%Y-%m-%dT00:00:00Z")
        params = {"starting_at": start, "bucket_width": "1d", "limit": 31, "group_by[]": "api_key_id"}
        try:
            return tf.last_use(list(api.pages("/v1/organizations/usage_report/messages", params,
                                              next_usage_page)))
        except HttpError as exc:
            if exc.status in (403, 404):
                self.emit_coverage(sink, f"{run.target}/usage_report", LAYER, "skipped",
                                   error=f"{exc} (keys' last use unknown)")
                return None
            raise

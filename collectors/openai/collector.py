"""OpenAI: organization admin keys, project API keys and service accounts with their
owner (issue 21). Why: an OpenAI key works until someone deletes it, whoever made it and
whether or not they still work here; a leaver who is still an organization owner can
make new ones, and a service account's key outlives the person who created it.

Reads (GET only, ``Authorization: Bearer <admin key>``, ``after`` cursor paging):
``/v1/organization/users``, ``/admin_api_keys``, ``/projects`` (active), per project its
``/service_accounts`` and ``/api_keys``, and ``/audit_logs?event_types[]=service_account
.created`` (who created each service account: an optional part, ``skipped`` when the
audit log is off). Keys are correlated with exposures by their ``redacted_value``
(keyed: ``Fingerprinter.redacted``).
"""

from __future__ import annotations

from collectors.base import Collector, Scope
from scanner.core.jsonapi import HttpError, JsonApi, after_cursor
from scanner.core.options import Option
from scanner.core.store import Sink

from collectors.openai import transform as tf
from collectors.openai import SYSTEMS

SYSTEM = tf.SYSTEM
LAYER = SYSTEMS[SYSTEM]


def error_text(body) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("message") or err.get("code") or "") if isinstance(err, dict) else ""


class OpenAICollector(Collector):
    name = "openai"
    layer = LAYER
    options = {"admin_key": Option(str, required=True, secret=True),
               "name": Option(str, default="openai"),
               "base_url": Option(str, default="https://api.openai.com"),
               "audit_log": Option(bool, default=True)}

    @property
    def source(self) -> str:
        return f"openai:{self.config.get('name') or 'openai'}"

    def describe(self) -> str:
        return self.source

    def api(self) -> JsonApi:
        return JsonApi(self.config.get("base_url") or "https://api.openai.com",
                       {"Authorization": f"Bearer {self.config['admin_key']}"}, timeout=self.ctx.timeout_s,
                       max_retries=self.ctx.max_retries, on_call=self.count_call,
                       max_pages=self.ctx.max_pages, error_text=error_text)

    def listing(self, api: JsonApi, path: str, **params):
        return api.pages(path, {"limit": 100, **params}, after_cursor("after"))

    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        fp = self.ctx.fingerprinter
        with self.target(sink, self.config.get("name") or "openai") as run:
            api = self.api()
            bad = 0
            for p in self.listing(api, "/v1/organization/users"):
                try:
                    sink.emit(tf.transform_user(p, self.source))
                except ValueError:
                    bad += 1
            for p in self.listing(api, "/v1/organization/admin_api_keys"):
                try:
                    sink.emit(tf.transform_admin_key(p, self.source, fp))
                except ValueError:
                    bad += 1
            made_by = self.creators(api, sink, run)
            projects = 0
            for p in self.listing(api, "/v1/organization/projects"):
                try:
                    project = tf.transform_project(p, self.source)
                except ValueError:
                    bad += 1
                    continue
                sink.emit(project)
                projects += 1
                pid = project.native_id.split(":", 1)[1]
                for sa in self.listing(api, f"/v1/organization/projects/{pid}/service_accounts"):
                    try:
                        sink.emit(tf.transform_service_account(sa, self.source, project,
                                                               made_by.get(str(sa.get("id")))))
                    except (ValueError, AttributeError):
                        bad += 1
                for k in self.listing(api, f"/v1/organization/projects/{pid}/api_keys"):
                    try:
                        sink.emit(tf.transform_project_key(k, self.source, fp, project))
                    except ValueError:
                        bad += 1
            run.attributes["projects"] = projects
            if bad:
                run.partial(f"{bad} malformed items skipped")

    def creators(self, api: JsonApi, sink: Sink, run) -> dict[str, str]:
        if not self.config.get("audit_log", True):
            return {}
        try:
            return tf.creators(list(self.listing(api, "/v1/organization/audit_logs",
                                                 **{"event_types[]": "service_account.created"})))
        except HttpError as exc:
            if exc.status in (403, 404):
                self.emit_coverage(sink, f"{run.target}/audit_logs", LAYER, "skipped",
                                   error=f"{exc} (audit logging off or not allowed: service accounts' "
                                         "creators unknown)")
                return {}
            raise

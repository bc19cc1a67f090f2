"""How the AWS collector talks to AWS: one botocore client per (session, service,
region), every HTTP request counted (a ``before-send`` hook sees paged requests and
retries alike), only read calls, and our own bounded retries instead of botocore's:
429/5xx/throttling retried with backoff through ``scanner.core.http.sleep`` (honouring
Retry-After), a refused connection retried twice and then the target fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from scanner.core import http
from scanner.core.http import backoff_delays, bounded_pages

READ_PREFIXES = ("List", "Get", "Describe", "Generate")

RETRYABLE_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    "SlowDown", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
    "InternalError", "InternalServerError", "InternalServerException",
    "PriorRequestNotComplete",
}
# An optional endpoint answering these is "skipped", not "failed": the account or the
# endpoint does not offer it, or the scanner's role may not read it.
SKIP_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotImplemented",
    "InvalidAction", "UnknownOperationException", "UnrecognizedClientException",
    "404", "NoSuchEntity", "ResourceNotFoundException", "OptInRequired",
    "SubscriptionRequiredException",
}

CONNECT_RETRIES = 2


def error_code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None) or {}
    code = str((resp.get("Error") or {}).get("Code") or "")
    return code or str((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or "")


def not_implemented(exc: BaseException) -> bool:
    """moto answers operations it lacks with NotImplementedError (in process) or a
    500/404 saying so (server): for us that is the same as an endpoint not offered."""
    if isinstance(exc, NotImplementedError):
        return True
    return "not been implemented" in str(exc) or "Not yet implemented" in str(exc)


def botocore_session(credentials_file: str | None) -> Any:
    """A botocore session reading CREDENTIALS_FILE (None: boto3's default chain). Pinning
    the file keeps the environment's own AWS credentials away from an endpoint_url that
    is not AWS (the demo's moto server)."""
    if not credentials_file:
        return None
    import botocore.session
    session = botocore.session.Session()
    session.set_config_variable("credentials_file", str(Path(credentials_file).expanduser()))
    return session


class AwsCalls:
    """The collector's calls (a mixin of AwsCollector: it uses ``self.ctx``,
    ``self.config``, ``self.regions``, ``self._clients`` and ``count_call``)."""

    def _boto_config(self) -> Any:
        from botocore.config import Config
        return Config(connect_timeout=min(5.0, self.ctx.timeout_s), read_timeout=self.ctx.timeout_s,
                      retries={"total_max_attempts": 1, "mode": "standard"},
                      user_agent_extra="residual-scanner")

    def _client(self, session: Any, service: str, region: str | None = None) -> Any:
        """One client per (session, service, region), each counting its requests."""
        key = (id(session), service, region or self.regions[0])
        if key not in self._clients:
            client = session.client(service, region_name=key[2],
                                    endpoint_url=self.config.get("endpoint_url") or None,
                                    config=self._boto_config())
            client.meta.events.register("before-send", self._on_send)
            self._clients[key] = client
        return self._clients[key]

    def cloudtrail_client(self, session: Any, region: str, endpoint: str | None) -> Any:
        """CloudTrail may live at its own endpoint (tests: a fake; moto has no LookupEvents)."""
        key = (id(session), "cloudtrail", region)
        if key not in self._clients:
            client = session.client("cloudtrail", region_name=region, endpoint_url=endpoint,
                                    config=self._boto_config())
            client.meta.events.register("before-send", self._on_send)
            self._clients[key] = client
        return self._clients[key]

    def _on_send(self, **_: Any) -> None:
        """Every HTTP request that leaves, paged or retried: the honest counter."""
        self.count_call()

    def _call(self, client: Any, op: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with bounded retries for throttling/5xx (honouring Retry-After)
        and connection errors."""
        from botocore.exceptions import (
            ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
            ReadTimeoutError,
        )
        delays = list(backoff_delays(self.ctx.max_retries))
        attempt = 0
        while True:
            try:
                return getattr(client, op)(**kwargs)
            except ClientError as exc:
                meta = exc.response.get("ResponseMetadata") or {}
                status = int(meta.get("HTTPStatusCode") or 0)
                code = error_code(exc)
                if (code in RETRYABLE_CODES or status == 429 or status >= 500) \
                        and not not_implemented(exc) and attempt < len(delays):
                    after = (meta.get("HTTPHeaders") or {}).get("retry-after")
                    http.sleep(http.retry_after_seconds(after, delays[attempt]))
                    attempt += 1
                    continue
                raise
            except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError,
                    ReadTimeoutError):
                if attempt < min(CONNECT_RETRIES, len(delays)):
                    http.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise

    def _pages(self, client: Any, op: str, items: str, token_in: str, token_out: str,
               **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a listing (Marker/NextToken styles), each page a counted call.
        Bounded by ``max_pages``: a listing whose cursors never end fails the target
        (PaginationLimit) instead of hanging the scan or silently cutting the list."""
        token = None
        for _ in bounded_pages(getattr(self.ctx, "max_pages", 10_000), f"{op} listing"):
            args = dict(kwargs)
            if token:
                args[token_in] = token
            page = self._call(client, op, **args)
            yield page
            token = page.get(token_out)
            if not token or (token_out == "Marker" and not page.get("IsTruncated")):
                return

"""Opt-in live verification (``verify_live: true``): does an exposed credential work?

Off by default: asking a provider with a found credential is itself a use of it (it shows
in the provider's logs, and may alert its owner). When on, only the provider's identity
endpoint is asked, and nothing else:

- GitHub tokens (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``): ``GET /user``;
- GitLab tokens (``glpat-``): ``GET /api/v4/personal_access_tokens/self``;
- AWS access key pairs (a key id and a 40-character secret within 5 lines of each
  other): ``sts:GetCallerIdentity``.

200 -> ``valid``; 401/403 (AWS: InvalidClientTokenId / SignatureDoesNotMatch) ->
``invalid``; anything else (timeout, 5xx, network) -> left ``unverified``, counted.
Runs in the worker that read the file, while the raw value is still in memory; results
are not cached (validity changes), so the content cache is off while this is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
AWS_SECRET = re.compile(r"^[A-Za-z0-9/+]{40}$")


@dataclass
class LiveVerifier:
    github_api: str = "https://api.github.com"
    gitlab_url: str = "https://gitlab.com"
    aws_endpoint: str | None = None  # None: the real STS
    aws_region: str = "us-east-1"
    timeout: float = 10.0
    calls: int = 0
    errors: int = 0
    _session: object = field(default=None, repr=False)

    def _http(self):
        if self._session is None:
            import requests
            self._session = requests.Session()
        return self._session

    def token(self, value: str) -> str | None:
        if value.startswith(GITHUB_PREFIXES):
            return self._get(f"{self.github_api.rstrip('/')}/user",
                             {"Authorization": f"token {value}", "Accept": "application/vnd.github+json"})
        if value.startswith("glpat-"):
            return self._get(f"{self.gitlab_url.rstrip('/')}/api/v4/personal_access_tokens/self",
                             {"PRIVATE-TOKEN": value})
        return None

    def _get(self, url: str, headers: dict[str, str]) -> str | None:
        self.calls += 1
        try:
            r = self._http().get(url, headers=headers, timeout=self.timeout, allow_redirects=False)
        except Exception:  # noqa: BLE001 - network trouble: unknown, never "invalid"
            self.errors += 1
            return None
        if r.status_code == 200:
            return "valid"
        if r.status_code in (401, 403):
            return "invalid"
        self.errors += 1
        return None

    def aws_pair(self, key_id: str, secret: str) -> str | None:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
        self.calls += 1
        try:
            sts = boto3.client("sts", aws_access_key_id=key_id, aws_secret_access_key=secret,
                               region_name=self.aws_region, endpoint_url=self.aws_endpoint)
            sts.get_caller_identity()
            return "valid"
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
                        "ExpiredToken", "UnrecognizedClientException"):
                return "invalid"
            self.errors += 1
            return None
        except BotoCoreError:
            self.errors += 1
            return None

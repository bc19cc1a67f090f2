"""detect-secrets plugins for the tokens of issue 21's providers that detect-secrets 1.5
does not know: Anthropic API/Admin keys, Atlassian API tokens, HashiCorp Vault service and
batch tokens. (OpenAI keys are its own ``OpenAIDetector``; ``scanner.secrets`` widens its
match to the whole key so the redacted handle can be computed.)

Loaded by path (``plugins_used: [{"name": ..., "path": "file://<this file>"}]``), the way
detect-secrets loads custom plugins; each has an anchor in ``scanner.secrets.ANCHORS``
so the prefilter keeps its speed.
"""

import re

from detect_secrets.plugins.base import RegexBasedDetector


class AnthropicKeyDetector(RegexBasedDetector):
    """Anthropic API keys (``sk-ant-api03-``) and Admin API keys (``sk-ant-admin01-``)."""
    secret_type = "Anthropic API Key"
    denylist = [re.compile(r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}AA")]


class AtlassianApiTokenDetector(RegexBasedDetector):
    """Atlassian Cloud API tokens (``ATATT3`` + base64url + ``=`` + an 8-hex checksum)."""
    secret_type = "Atlassian API Token"
    denylist = [re.compile(r"ATATT3[A-Za-z0-9_\-]{150,}=[A-F0-9]{8}")]


class VaultTokenDetector(RegexBasedDetector):
    """HashiCorp Vault service (``hvs.``) and batch (``hvb.``) tokens (Vault 1.10+)."""
    secret_type = "HashiCorp Vault Token"
    denylist = [re.compile(r"(?<![A-Za-z0-9])hv[sb]\.[A-Za-z0-9_-]{24,}")]

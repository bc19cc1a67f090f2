"""AI agent and MCP configuration files: each MCP server entry, and the secrets handed to it.

Why: an agent connects to tools through MCP servers, and each server entry usually carries
a credential in its ``env`` or ``headers`` (a GitHub token, an OpenAI key, a cloud key).
That credential is somebody's: when its owner leaves, the agent keeps acting with their
authority. The files: ``.mcp.json`` (Claude Code, project scope), ``.cursor/mcp.json``,
``.vscode/mcp.json``, ``claude_desktop_config.json``, and agent framework YAML
(``agents.yaml``/``agent.yaml``/``crew.yaml``/``*.agent.yaml`` with an ``mcpServers`` /
``mcp_servers`` / ``servers`` mapping).

Pure: text in, AgentFacts out (one per server: its name, command or URL, the line span of
its entry, the env/header keys it sets). The secrets themselves are found by the secret
scanner as in any file; ``collectors/iac/__init__.transform`` ties the hits inside a
server's span to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

MCP_JSON = {".mcp.json", "mcp.json", "claude_desktop_config.json", "mcp_config.json"}
AGENT_YAML = re.compile(r"(?i)^(agents?|crew|mcp)\.ya?ml$|\.agent\.ya?ml$")
SERVER_KEYS = ("mcpServers", "mcp_servers", "servers")


@dataclass(slots=True)
class AgentFact:
    name: str
    line: int
    end_line: int
    transport: str  # stdio | http | unknown
    command: str = ""
    url: str = ""
    env_keys: list[str] = field(default_factory=list)
    header_keys: list[str] = field(default_factory=list)
    config: str = ""  # which file convention: ".mcp.json", "agent yaml", ...


def config_kind(path: str) -> str | None:
    """Which agent/MCP convention a path follows, or None."""
    name = PurePosixPath(path).name
    if name in MCP_JSON:
        return name
    if AGENT_YAML.search(name):
        return "agent yaml"
    return None


def _servers(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        return {}
    for key in SERVER_KEYS:
        if isinstance(doc.get(key), dict):
            return doc[key]
    mcp = doc.get("mcp")  # VS Code settings style: {"mcp": {"servers": {...}}}
    return _servers(mcp) if isinstance(mcp, dict) else {}


def _line_of(lines: list[str], name: str, start: int) -> int:
    quoted = re.compile(rf"""(^|[\s{{,])["']?{re.escape(name)}["']?\s*:""")
    for i in range(max(0, start - 1), len(lines)):
        if quoted.search(lines[i]):
            return i + 1
    return start


def parse_agent_config(text: str, path: str) -> list[AgentFact]:
    """The MCP servers of one agent/MCP config file. Raises ValueError when the file is
    not valid JSON/YAML (the file is then still scanned for secrets as lines)."""
    kind = config_kind(path)
    if kind is None:
        return []
    try:
        doc = json.loads(text) if kind != "agent yaml" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"not valid {'YAML' if kind == 'agent yaml' else 'JSON'}: {exc.__class__.__name__}") from None
    servers = _servers(doc)
    lines = text.split("\n")
    out: list[AgentFact] = []
    cursor = 1
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            continue
        line = _line_of(lines, str(name), cursor)
        cursor = line + 1
        cmd = entry.get("command")
        args = entry.get("args") if isinstance(entry.get("args"), list) else []
        url = entry.get("url") or entry.get("serverUrl") or ""
        env = entry.get("env") if isinstance(entry.get("env"), dict) else {}
        headers = entry.get("headers") if isinstance(entry.get("headers"), dict) else {}
        out.append(AgentFact(
            name=str(name), line=line, end_line=line, config=kind,
            transport="stdio" if cmd else "http" if url else "unknown",
            command=" ".join(str(x) for x in [cmd, *args] if x)[:300] if cmd else "",
            url=str(url)[:300], env_keys=sorted(str(k) for k in env), header_keys=sorted(str(k) for k in headers)))
    for i, fact in enumerate(out):  # an entry runs until the next one starts
        fact.end_line = (out[i + 1].line - 1) if i + 1 < len(out) else len(lines)
    return out

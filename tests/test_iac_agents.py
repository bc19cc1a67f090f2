"""Agent and MCP configuration files: parsed into MCP server entries (pure), the secrets in
their env/headers tied to the entry, malformed files scanned as lines and counted."""

from __future__ import annotations

import json

from collectors.iac.collector import transform
from collectors.iac.agents import config_kind, parse_agent_config
from collectors.iac.parsers import analyze
from scanner.core.model import Exposure, Resource
from scanner.core.secrets import Fingerprinter, SecretScanner

GH = "ghp_" + "R3sidualFakeT0kenN0tRealAbCdEfGh1234"
SC = SecretScanner(Fingerprinter(b"k" * 32))


def test_conventions_by_path():
    assert config_kind(".mcp.json") == ".mcp.json"
    assert config_kind("x/.cursor/mcp.json") == "mcp.json"
    assert config_kind("a/claude_desktop_config.json") == "claude_desktop_config.json"
    assert config_kind("crew/agents.yaml") == config_kind("bots/support.agent.yml") == "agent yaml"
    assert config_kind("package.json") is None and config_kind("values.yaml") is None  # near misses


def test_vscode_and_yaml_forms():
    vs = json.dumps({"servers": {"gh": {"type": "http", "url": "https://api.githubcopilot.com/mcp/",
                                        "headers": {"Authorization": "Bearer ${input:token}"}}}})
    a, = parse_agent_config(vs, ".vscode/mcp.json")
    assert (a.name, a.transport, a.url, a.header_keys) == ("gh", "http", "https://api.githubcopilot.com/mcp/",
                                                         ["Authorization"])
    y = "mcp_servers:\n  jira:\n    command: uvx\n    args: [mcp-atlassian]\n    env:\n      JIRA_TOKEN: x\n"
    b, = parse_agent_config(y, "agents.yaml")
    assert (b.name, b.command, b.env_keys, b.line) == ("jira", "uvx mcp-atlassian", ["JIRA_TOKEN"], 2)


def test_secret_in_an_entry_names_its_server_and_a_reference_is_not_a_secret():
    text = json.dumps({"mcpServers": {
        "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                   "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": GH}},
        "safe": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"}}}}, indent=2)
    facts = analyze(".mcp.json", text, SC)
    out = list(transform(facts, "iac:repo", ".mcp.json", None, True))
    servers = {r.name: r for r in out if isinstance(r, Resource)}
    assert set(servers) == {"github", "safe"} and servers["github"].kind == "mcp_server"
    assert servers["github"].attributes["command"] == "npx -y @modelcontextprotocol/server-github"
    exposures = [e for e in out if isinstance(e, Exposure)]
    assert [e.attributes.get("mcp_server") for e in exposures] == ["github"]  # ${...} is no secret
    assert GH not in json.dumps([e.hint for e in exposures]) and exposures[0].identifier.startswith("last8:")


def test_malformed_config_is_scanned_as_lines_and_said():
    facts = analyze(".mcp.json", '{"mcpServers": {"x": {"env": {"T": "' + GH + '"}', SC)
    assert facts.parse_error and "agent config" in facts.parse_error
    assert facts.agents == [] and len(facts.hits) == 1  # the secret is still found


def test_a_server_only_in_history_is_not_a_running_server():
    text = json.dumps({"mcpServers": {"old": {"command": "x"}}})
    out = list(transform(analyze(".mcp.json", text, SC), "iac:repo", ".mcp.json", "abc123", False))
    assert not [r for r in out if isinstance(r, Resource)]

"""FileFacts' JSON (the content cache's value) is what dataclasses.asdict gives."""

from __future__ import annotations

import json
from dataclasses import asdict

from collectors.iac.agents import AgentFact
from collectors.iac.facts import FileFacts, RefFact
from scanner.core.secrets import SecretHit


def test_to_json_is_asdict_and_round_trips():
    agent = AgentFact("db", 3, 9, "stdio", command="npx srv", env_keys=["DB_PASSWORD"],
                      header_keys=["Authorization"], config=".mcp.json")
    facts = FileFacts(kind="terraform",
                      refs=[RefFact(2, "alice", "handle", "aws", "terraform aws_iam_user.a", True,
                                    "aws_iam_user", "a")],
                      hits=[SecretHit("AWS Access Key", "fp", "AKIA…M2", 4, "AKIAQYLPMN5HHHFPZAM2",
                                      "access_key", None)],
                      parse_error="terraform: x", filtered={"commit/digest hash": 2},
                      verify_calls=1, agents=[agent])
    got = facts.to_json()
    assert json.dumps(got) == json.dumps(asdict(facts))
    assert got["agents"][0]["env_keys"] is not agent.env_keys  # a copy, as asdict makes
    assert FileFacts.from_json(json.loads(json.dumps(got))) == facts
    assert FileFacts("yaml").to_json() == asdict(FileFacts("yaml"))

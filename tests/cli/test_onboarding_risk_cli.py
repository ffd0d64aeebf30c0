"""`qylon onboarding rules|at-risk|evaluate`: rule files checked offline (line and field),
the published JSON Schema current, and the commands against the real team server
(SQLite and PostgreSQL).

test_upload_at_risk_and_evaluate runs its commands in-process (``run_qylon_here``: the same
entry point, environment, streams and exit codes, without an interpreter start per command);
test_rules_validate_offline_and_the_schema_is_current runs the real subprocess."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..conftest import credentials, run_qylon, run_qylon_here
from ..server.harness import Api

REPO = Path(__file__).resolve().parents[2]
RULES = sorted(str(p) for p in (REPO / "config/engagement").glob("*.yaml"))


def test_rules_validate_offline_and_the_schema_is_current(tmp_path):
    ok = run_qylon("onboarding", "rules", "validate", *RULES, "--json")
    assert ok.code == 0, ok.stdout
    assert [i["valid"] for i in ok.json["data"]["items"]] == [True, True]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nwhen:\n  no_activty_for: 7d\n")
    refused = run_qylon("onboarding", "rules", "validate", str(bad), "--json")
    assert refused.code == 3
    assert "bad.yaml:4: when.no_activty_for: unknown key" in refused.json["error"]["message"]
    assert "did you mean 'no_activity_for'" in refused.json["error"]["message"]
    schema = run_qylon("onboarding", "rules", "schema")
    published = (REPO / "docs/engagement-rule.schema.json").read_text()
    assert json.loads(schema.stdout) == json.loads(published), "run `make docs`"


def test_upload_at_risk_and_evaluate(server, org):
    env = credentials(server.url, org.token)
    up = run_qylon_here("onboarding", "rules", "upload", *RULES, "--json", env=env)
    assert up.code == 0, up.stderr
    assert [r["created"] for r in up.json["data"]["items"]] == [True, True]
    api = Api(server.url)
    try:
        email = f"quiet-{uuid.uuid4().hex[:6]}@x.example"
        api.post("/v1/users", org.token, json={"email": email})
    finally:
        api.http.close()
    later = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    shown = run_qylon_here("onboarding", "at-risk", "--at", later, "--json", env=env)
    assert shown.code == 0, shown.stderr
    found = {p["email"]: p for p in shown.json["data"]["items"]}
    assert found[email]["reasons"][0]["rule"] == "quiet-during-onboarding"
    human = run_qylon_here("onboarding", "at-risk", "--at", later, env=env)
    assert human.code == 0 and email in human.stdout and "quiet-during-onboarding" in human.stdout
    # no engagement-nudge workflow uploaded: every nudge is held back, saying why
    done = run_qylon_here("onboarding", "evaluate", "--at", later, "--json", env=env)
    assert done.code == 0, done.stderr
    assert done.json["data"]["started"] == []
    assert {h["why"] for h in done.json["data"]["held"]} == {"Workflow not found."}

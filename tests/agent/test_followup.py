"""`qylon meeting follow-up`: the offline template, the audiences, --json, --edit, -o, and the model's
draft held to the extracted items (a loopback OpenAI-compatible server). In-process (run_qylon_here)."""

from __future__ import annotations

import pytest
from qylon_agent.store.database import Store

from .openai_server import Behaviour, OpenAIServer, completion
from .transcripts import make_meeting

ONE = "5eed0000-0000-4000-8000-000000000001"
UNNAMED = "5eed0000-0000-4000-8000-000000000002"

FAITHFUL = """Subject: Acme sync: next steps

Hello,

Thanks for today. We reviewed the Acme onboarding project.

**Decisions**
- The go-live date moves to the end of the month.

**Action items**
- Bob: send the migration report to the chief accountant, by Friday 27 November
- Carol: update the project plan and share it with the client, by Monday 30 November
- Alice: schedule the training session for the support staff

Best regards,"""


@pytest.fixture
def stored():
    store = Store()
    store.save_meeting(make_meeting())
    store.save_meeting(make_meeting(named=False, meeting_id=UNNAMED))
    store.close()


@pytest.fixture
def llm_env(monkeypatch):
    with OpenAIServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("QYLON_LLM_MODEL", "test-model")
        monkeypatch.setenv("QYLON_LLM_HTTP_RETRIES", "0")
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        yield srv


def draft(qylon, *args, code=0):
    result = qylon("meeting", "follow-up", *args, "--json")
    assert result.code == code, result.stderr
    return result


def test_offline_draft_lists_every_item_with_owner_and_due_date(stored, qylon_here):
    data = draft(qylon_here, ONE, "--extractor", "offline").json["data"]
    assert data["writer"] == "offline" and data["to"] == "client"
    assert data["subject"] == "Follow-up: Weekly sync with Acme (25 November 2026)"
    assert [(i["owner"], i["due"]) for i in data["items"]] == [
        ("Bob", "2026-11-27"),
        ("Carol", "2026-11-30"),
        ("Alice", None),
    ]
    md, text = data["markdown"], data["text"]
    assert (
        "- Send the migration report to their chief accountant (Bob, by Friday 27 November)" in md
    )
    assert (
        "(Carol, by Monday 30 November)" in md
        and "training session for their support staff (Alice)" in md
    )
    assert "**Decisions**" in md and "move the go live date" in md
    assert "**" not in text and "  * Send the migration report" in text and "ACTION ITEMS" in text
    assert set(data) == {
        "subject",
        "markdown",
        "text",
        "to",
        "writer",
        "items",
        "warnings",
        "meeting_id",
    }
    assert set(data["items"][0]) == {"id", "owner", "task", "due", "status"}


def test_client_and_team_drafts_differ(stored, qylon_here):
    client = draft(qylon_here, UNNAMED, "--to", "client").json["data"]
    team = draft(qylon_here, UNNAMED, "--to", "team").json["data"]
    # The client never reads speaker labels, item ids or "Action item:"; the team gets them, tersely.
    assert (
        "SPEAKER_" not in client["markdown"] and "(we, by Monday 30 November)" in client["markdown"]
    )
    assert "Action item:" not in client["markdown"] and "Best regards" in client["markdown"]
    assert client["items"][1]["owner"] == "we"
    assert (
        "[ ] SPEAKER_3: Update the project plan" in team["markdown"]
        and "(due 2026-11-30)" in team["markdown"]
    )
    assert team["items"][0]["id"][:8] in team["markdown"] and "Hello" not in team["markdown"]
    assert team["subject"] == "Weekly sync with Acme: actions"
    assert len(team["markdown"]) < len(client["markdown"])


def test_printed_edited_and_written(stored, qylon_here, tmp_path):
    printed = qylon_here("meeting", "follow-up", ONE, "--format", "text")
    assert printed.code == 0 and printed.stdout.startswith("Subject: Follow-up: Weekly sync")
    target = tmp_path / "draft.md"
    edited = qylon_here(
        "meeting",
        "follow-up",
        ONE,
        "--edit",
        "-o",
        str(target),
        env={"EDITOR": "sed -i s/Hello,/Dear_Acme,/"},
    )
    assert edited.code == 0, edited.stderr
    assert target.read_text().startswith("Dear_Acme,\n") and edited.stdout == ""


def test_model_draft_that_names_every_item_passes(stored, llm_env, qylon_here):
    assert qylon_here("meeting", "analyze", ONE, "--extractor", "offline").code == 0
    llm_env.default = Behaviour(completion(FAITHFUL))
    data = draft(qylon_here, ONE, "--extractor", "llm").json["data"]
    assert (
        data["writer"] == "llm"
        and data["subject"] == "Acme sync: next steps"
        and data["warnings"] == []
    )
    assert "Bob: send the migration report" in data["markdown"] and "**" not in data["text"]
    prompt = llm_env.requests[0]["messages"][1]["content"]
    assert (
        "Audience: client" in prompt and "Alice: Bob, could you send the migration report" in prompt
    )
    assert "Schedule the training session for their support staff (Alice)" in prompt


def test_model_draft_that_drops_or_invents_an_item_is_caught(stored, llm_env, qylon_here):
    assert qylon_here("meeting", "analyze", ONE, "--extractor", "offline").code == 0
    dropped = FAITHFUL.replace("- Alice: schedule the training session for the support staff\n", "")
    llm_env.default = Behaviour(completion(dropped))
    failed = draft(qylon_here, ONE, "--extractor", "llm", code=1)
    error = failed.json["error"]
    assert error["code"] == "followup_unfaithful" and "training session" in error["message"]
    invented = FAITHFUL.replace(
        "Best regards,", "- Dana will renew the hosting contract by Friday\n\nBest regards,"
    )
    llm_env.default = Behaviour(completion(invented))
    error = draft(qylon_here, ONE, "--extractor", "llm", code=1).json["error"]
    assert "renew the hosting contract" in error["message"] and "leaves out" not in error["message"]
    # Without an explicit --extractor llm, the offline draft is used, with a warning.
    data = draft(qylon_here, ONE).json["data"]
    assert data["writer"] == "offline" and "hosting contract" in data["warnings"][0]


def test_stopped_endpoint_with_explicit_llm_exits_6(stored, llm_env, qylon_here, monkeypatch):
    assert qylon_here("meeting", "analyze", ONE, "--extractor", "offline").code == 0
    url = llm_env.base_url
    llm_env.__exit__(None, None, None)  # stopped: connection refused
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    failed = draft(qylon_here, ONE, "--extractor", "llm", code=6)
    assert failed.json["error"]["code"] == "llm_unreachable"
    data = draft(qylon_here, ONE, "--extractor", "llm", "--fallback", "offline").json["data"]
    assert data["writer"] == "offline" and "Could not reach" in data["warnings"][0]

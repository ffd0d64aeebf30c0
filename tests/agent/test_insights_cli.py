"""`qylon meeting analyze | summary | actions`, run as real commands against a real store."""

from __future__ import annotations

import pytest
from qylon_agent.store.database import Store

from ..conftest import SAMPLES
from .transcripts import make_meeting

SECOND = """
Dana: Eric, can you chase legal about the renewal contract by Wednesday?
Eric: Sure, will do.
Fiona: I'll prepare the pricing comparison before Friday.
"""


@pytest.fixture
def stored():
    """Two transcribed meetings without insights yet, as an older store would hold them."""
    store = Store()
    one, two = (
        make_meeting(),
        make_meeting(SECOND, meeting_id="7a110000-0000-4000-8000-000000000002"),
    )
    store.save_meeting(one)
    store.save_meeting(two)
    store.close()
    return one, two


@pytest.mark.slow
def test_analyze_then_work_the_items(stored, qylon_here):
    qylon = qylon_here  # in-process: many commands; the other tests here run the subprocess
    one, two = stored
    assert qylon("meeting", "actions", "--json").json["data"]["items"] == []
    analyzed = qylon("meeting", "analyze", one.id[:8], "--extractor", "offline", "--json")
    assert analyzed.code == 0, analyzed.stderr
    data = analyzed.json["data"]
    assert data["extractor"] == "offline" and len(data["action_items"]) == 3
    assert set(data["action_items"][0]) == {
        "id",
        "owner",
        "task",
        "due",
        "status",
        "quote",
        "start",
        "updated_at",
    }
    assert data["decisions"] and data["summary"]
    assert qylon("meeting", "analyze", two.id[:8], "--json").code == 0

    every = qylon("meeting", "actions", "--json").json["data"]["items"]
    assert len(every) == 5 and {r["meeting_id"] for r in every} == {one.id, two.id}
    only_one = qylon("meeting", "actions", one.id[:8], "--json").json["data"]["items"]
    assert len(only_one) == 3
    bobs = qylon("meeting", "actions", "--owner", "bob", "--json").json["data"]["items"]
    assert [(r["owner"], r["due"]) for r in bobs] == [("Bob", "2026-11-27")]

    done = qylon("meeting", "actions", "done", bobs[0]["id"][:6], "--json")
    assert (
        done.code == 0 and done.json["data"]["status"] == "done" and done.json["data"]["updated_at"]
    )
    open_items = qylon("meeting", "actions", "--open", "--json").json["data"]["items"]
    assert bobs[0]["id"] not in {r["id"] for r in open_items} and len(open_items) == 4

    # Analysing again keeps what was done.
    qylon("meeting", "analyze", one.id[:8], "--json")
    again = qylon("meeting", "actions", "--owner", "Bob", "--json").json["data"]["items"]
    assert again[0]["id"] == bobs[0]["id"] and again[0]["status"] == "done"

    reopened = qylon("meeting", "actions", "reopen", bobs[0]["id"], "--json")
    assert reopened.json["data"]["status"] == "open"

    human = qylon("meeting", "actions", "--open")
    assert (
        human.code == 0
        and "Send the migration report" in human.stdout
        and "Yes, I can do that" in human.stdout
    )

    summary = qylon("meeting", "summary", one.id[:8])
    assert (
        "Decisions" in summary.stdout
        and "go live date" in summary.stdout
        and "Bob" in summary.stdout
    )

    md = qylon("meeting", "export", one.id[:8], "--format", "md")
    assert (
        "## Action items" in md.stdout
        and "- [ ] Send the migration report" in md.stdout
        and "## Decisions" in md.stdout
    )


def test_errors(stored, qylon):
    missing = qylon("meeting", "actions", "done", "abcdef12", "--json")
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"
    bad = qylon("meeting", "actions", "done", "not-an-id!", "--json")
    assert bad.code == 3
    assert qylon("meeting", "summary", "ffff0000", "--json").code == 5
    assert qylon("meeting", "analyze", stored[0].id[:8], "--extractor", "gpt").code == 2
    bad_date = qylon("meeting", "analyze", stored[0].id[:8], "--date", "friday", "--json")
    assert bad_date.code == 3 and "--date" in bad_date.json["error"]["message"]


def test_analyze_date_moves_due_dates(stored, qylon):
    data = qylon("meeting", "analyze", stored[0].id[:8], "--date", "2026-12-01", "--json").json[
        "data"
    ]
    assert {i["owner"]: i["due"] for i in data["action_items"]}["Bob"] == "2026-12-04"


@pytest.mark.slow
def test_transcribe_sample_meeting_finds_its_action_items(qylon):
    result = qylon("meeting", "transcribe", str(SAMPLES / "team_meeting.ogg"), "--json")
    assert result.code == 0, result.stderr
    data = result.json["data"]
    items = data["action_items"]
    assert set(items[0]) == {"id", "owner", "task", "due", "status", "quote", "start", "updated_at"}
    tasks = " | ".join(i["task"].lower() for i in items)
    assert "migration report" in tasks and "project plan" in tasks and "training session" in tasks
    assert any(i["owner"] == "Bob" and i["due"] for i in items)
    assert any(i["owner"] == "Alice" and "training" in i["task"].lower() for i in items)
    # Speakers are told apart: the one who says "I will update the project plan" owns that item.
    assert len(data["speakers"]) == 3
    [plan] = [i for i in items if "project plan" in i["task"].lower()]
    assert plan["owner"] and plan["owner"] not in ("Alice", "Bob")
    assert data["decisions"] and data["summary"]
    assert (
        qylon("meeting", "summary", data["id"][:8], "--json").json["data"]["extractor"] == "offline"
    )


@pytest.mark.slow
def test_transcribe_keeps_the_transcript_when_the_model_fails(qylon):
    env = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "sk-test",
        "QYLON_LLM_MODEL": "m",
        "QYLON_LLM_HTTP_RETRIES": "0",
    }
    sample = str(SAMPLES / "team_meeting.ogg")
    failed = qylon(
        "meeting", "transcribe", sample, "--no-diarize", "--extractor", "llm", "--json", env=env
    )
    assert failed.code == 6, failed.stderr
    error = failed.json["error"]
    assert (
        error["code"] == "llm_unreachable"
        and "Could not reach the model endpoint" in error["message"]
    )
    [kept] = qylon("meeting", "list", "--json").json["data"]["items"]
    assert kept["id"][:8] in error["hint"] and kept["segments"] > 0 and kept["action_items"] == 0
    result = qylon(
        "meeting", "transcribe", sample, "--no-diarize", "--json", env=env
    )  # auto: falls back, warns
    assert result.code == 0, result.stderr
    assert (
        "Could not reach the model endpoint" in result.stderr
        and "offline extractor" in result.stderr
    )
    data = result.json["data"]
    assert data["segments"] and len(data["action_items"]) >= 3
    stored = qylon("meeting", "summary", data["id"], "--json").json["data"]
    assert stored["extractor"] == "offline" and len(stored["action_items"]) == len(
        data["action_items"]
    )

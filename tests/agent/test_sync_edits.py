"""Every change to a meeting reaches the team server on the next `qylon sync`, on SQLite
and PostgreSQL, through the real commands; a second sync sends nothing; deletions
propagate; an older edit never overwrites a newer one.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command);
test_an_older_edit_is_refused_and_reported runs the real subprocess (``qylon_process``):
its `sync` exits 1 with the report on stdout."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest
from qylon_agent.store.database import Store

from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker

from ..conftest import run_qylon_here

MID = "33333333-3333-4333-8333-333333333333"


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the test on the real subprocess."""
    return run_qylon_here


def stored_meeting() -> Meeting:
    meeting = Meeting(
        id=MID,
        title="Weekly sync",
        client="Acme",
        created_at=datetime(2026, 11, 18, 10, tzinfo=UTC),
        duration_s=20.0,
        language="en",
        model="tiny.en",
        speakers=[Speaker(id="SPEAKER_1", talk_time_s=6), Speaker(id="SPEAKER_2", talk_time_s=5)],
        segments=[
            Segment(
                start=0.0,
                end=5.0,
                speaker="SPEAKER_1",
                text="Bob, could you send the migration report by Friday?",
            ),
            Segment(start=5.5, end=7.0, speaker="SPEAKER_2", text="Yes, I can do that."),
        ],
        action_items=[ActionItem(id="a1b2c3d4e5f6", owner="Bob", task="Send the migration report")],
    )
    store = Store()
    store.save_meeting(meeting)
    store.close()
    return meeting


def on_server(server, org, path: str = f"/v1/meetings/{MID}"):
    return httpx2.get(
        f"{server.url}{path}", headers={"Authorization": f"Bearer {org.token}"}, timeout=30
    )


def sync(qylon, env) -> dict:
    result = qylon("sync", "--json", "--no-pull", env=env)
    assert result.code == 0, result.stdout + result.stderr
    return result.json["data"]


def test_every_edit_reaches_the_server_and_a_second_sync_sends_nothing(
    qylon, server, org, signed_in
):
    stored_meeting()
    assert sync(qylon, signed_in)["pushed"] == 1
    assert sync(qylon, signed_in)["pushed"] == 0

    # A speaker named (the command from `meeting rename-speaker`).
    assert qylon("meeting", "rename-speaker", MID[:8], "SPEAKER_2", "Bob Stone", "--json").code == 0
    assert qylon("sync", "--dry-run", "--json").json["data"]["pending"][0]["id"] == MID
    assert sync(qylon, signed_in)["pushed"] == 1
    assert {s["id"]: s["name"] for s in on_server(server, org).json()["speakers"]}[
        "SPEAKER_2"
    ] == "Bob Stone"

    # An item done, then open again: the agent's newer change wins over the server's copy.
    assert qylon("meeting", "actions", "done", "a1b2c3d4e5f6", "--json").code == 0
    assert sync(qylon, signed_in)["pushed"] == 1
    assert on_server(server, org).json()["action_items"][0]["status"] == "done"
    assert qylon("meeting", "actions", "reopen", "a1b2c3d4e5f6", "--json").code == 0
    assert sync(qylon, signed_in)["pushed"] == 1
    assert on_server(server, org).json()["action_items"][0]["status"] == "open"

    # Re-analysis: the server gets the new items and summary.
    analyzed = qylon("meeting", "analyze", MID[:8], "--extractor", "offline", "--json")
    assert analyzed.code == 0, analyzed.stderr
    assert sync(qylon, signed_in)["pushed"] == 1
    got = on_server(server, org).json()
    assert got["summary"] == analyzed.json["data"]["summary"]
    assert [a["task"] for a in got["action_items"]] == [
        a["task"] for a in analyzed.json["data"]["action_items"]
    ]

    # Corrections: title, client, date, words, an item corrected and one added by hand.
    assert (
        qylon(
            "meeting",
            "edit",
            MID[:8],
            "--title",
            "Weekly sync (Acme)",
            "--client",
            "Globex",
            "--date",
            "2026-11-17",
            "--json",
        ).code
        == 0
    )
    assert sync(qylon, signed_in)["pushed"] == 1
    got = on_server(server, org).json()
    assert (got["title"], got["client"], got["created_at"][:10], got["date_source"]) == (
        "Weekly sync (Acme)",
        "Globex",
        "2026-11-17",
        "given",
    )
    assert qylon("meeting", "fix", MID[:8], "2", "Yes, I can do that today.", "--json").code == 0
    item = got["action_items"][0]["id"]
    assert (
        qylon(
            "meeting",
            "actions",
            "edit",
            item,
            "--owner",
            "Bob Stone",
            "--due",
            "2026-11-30",
            "--json",
        ).code
        == 0
    )
    added = qylon(
        "meeting", "actions", "add", MID[:8], "Book the venue", "--owner", "Dana", "--json"
    ).json["data"]
    assert sync(qylon, signed_in)["pushed"] == 1
    got = on_server(server, org).json()
    assert got["segments"][1]["text"] == "Yes, I can do that today."
    items = {a["id"]: a for a in got["action_items"]}
    assert (items[item]["owner"], items[item]["due"]) == ("Bob Stone", "2026-11-30")
    assert items[added["id"]]["task"] == "Book the venue"

    again = sync(qylon, signed_in)
    assert again["pushed"] == 0 and again["unchanged"] == 0 and again["pending"] == 0

    # Deleted here, deleted there.
    assert qylon("meeting", "delete", MID[:8], "--yes", "--json").code == 0
    report = sync(qylon, signed_in)
    assert report["deleted"] == 1 and report["pending"] == 0
    assert on_server(server, org).status_code == 404
    assert on_server(server, org, "/v1/meetings").json()["total"] == 0
    assert sync(qylon, signed_in) | {"clients": None} == sync(qylon, signed_in) | {"clients": None}
    assert sync(qylon, signed_in)["deleted"] == 0


def test_a_status_set_on_the_server_after_the_agents_stays(qylon, server, org, signed_in):
    stored_meeting()
    sync(qylon, signed_in)
    patched = httpx2.patch(
        f"{server.url}/v1/action-items/{MID}/a1b2c3d4e5f6",
        json={"status": "done"},
        headers={"Authorization": f"Bearer {org.token}"},
    )
    assert patched.status_code == 200
    assert qylon("meeting", "rename-speaker", MID[:8], "SPEAKER_1", "Alice", "--json").code == 0
    assert sync(qylon, signed_in)["pushed"] == 1
    assert on_server(server, org).json()["action_items"][0]["status"] == "done"


def test_an_older_edit_is_refused_and_reported(qylon_process, server, org, signed_in):
    qylon = qylon_process  # the real subprocess: its exit code and stdout
    stored_meeting()
    sync(qylon, signed_in)
    newer = on_server(server, org).json() | {
        "title": "Edited elsewhere",
        "updated_at": "2099-01-01T00:00:00Z",
    }
    headers = {"Authorization": f"Bearer {org.token}"}
    assert (
        httpx2.put(f"{server.url}/v1/meetings/{MID}", json=newer, headers=headers).status_code
        == 200
    )
    older = newer | {"title": "An old copy", "updated_at": "2098-01-01T00:00:00Z"}
    refused = httpx2.put(f"{server.url}/v1/meetings/{MID}", json=older, headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "stale_edit"
    # The agent's own (older) edit is reported, not dropped silently, and not sent again.
    assert qylon("meeting", "rename-speaker", MID[:8], "SPEAKER_1", "Alice", "--json").code == 0
    result = qylon("sync", "--json", "--no-pull", env=signed_in)
    assert result.code == 1
    data = result.json["data"]
    assert (
        data["pushed"] == 0
        and [s["id"] for s in data["stale"]] == [MID]
        and "newer edit" in data["stale"][0]["error"]
    )
    assert on_server(server, org).json()["title"] == "Edited elsewhere"
    assert sync(qylon, signed_in)["stale"] == []

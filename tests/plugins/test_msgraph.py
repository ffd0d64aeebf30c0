"""The Microsoft 365 integration end to end: `qylon integrations connect msgraph` (the
device code flow through msal, against an https identity fake) and `qylon meeting import
--from teams` against a stateful Graph fake on loopback (tests/plugins/msgraph_fake.py), the
plugin loaded through its entry point, the CLI run in-process.

A Teams meeting with a recorded session that has its transcript (Teams' WebVTT, imported
without transcribing) and another meeting whose session has only its video (jfk.wav as
MP4, transcribed by the normal pipeline).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here
from .loopback import load_plugin
from .msgraph_fake import FakeGraph

# Teams' transcript as it writes it: a cue id, the speaker in a voice tag.
TEAMS_VTT = """WEBVTT

0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/14-0
00:00:01.200 --> 00:00:05.400
<v Dana Lee>Good morning, the migration finished over the weekend.</v>

0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/19-0
00:00:05.900 --> 00:00:10.100
<v Bob Stone>Great. I will send the migration report by Friday.</v>
"""


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with FakeGraph(tmp_path_factory.mktemp("msgraph") / "ca.pem") as server:
        yield server


@pytest.fixture(scope="module")
def jfk_mp4(jfk_wav, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("teams") / "jfk.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(jfk_wav),
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            str(out),
        ],
        check=True,
    )
    return out.read_bytes()


def _ago(days: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(days=days)


@pytest.fixture
def graph(fake, jfk_mp4, monkeypatch, tmp_path):
    load_plugin("msgraph", monkeypatch, tmp_path)
    state = fake.reset()
    state.page_size_cap = 1  # every list takes several pages
    acme = state.add_event(
        "Weekly sync with Acme",
        _ago(2),
        30,
        [("Dana Lee", "dana@acme.example"), ("Erin Fox", "erin@acme.example")],
    )
    state.add_session(
        acme,
        _ago(2) + timedelta(minutes=1),
        14,
        video=jfk_mp4,
        vtt=TEAMS_VTT.encode(),
        attended=[("Dana Lee", "dana@acme.example"), ("Bob Stone", "bob@consult.example")],
    )
    state.review = state.add_event(
        "Speech review", _ago(1), 15, [("Carol Vance", "carol@x.example")]
    )
    state.add_session(state.review, _ago(1), 1, video=jfk_mp4)
    old = state.add_event("Old kick-off", _ago(20), 30)
    state.add_session(old, _ago(20), 20, vtt=TEAMS_VTT.encode())
    state.add_event("Lunch", _ago(1.5), 60, teams=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))  # msal trusts the fake's CA
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},msgraph",
        "MSGRAPH_API_BASE": f"{fake.url}/v1.0",
        "MSGRAPH_AUTHORITY": f"{fake.authority_url}/organizations",
        "MSGRAPH_CLIENT_ID": state.client_id,
        "SPEAKERS_DIARIZE": "false",
        "INSIGHTS_EXTRACTOR": "offline",
    }.items():
        monkeypatch.setenv(f"QYLON_{key}", value)
    return state


def connect() -> dict:
    result = run_qylon_here("integrations", "connect", "msgraph", "--json")
    assert result.code == 0, result.stderr
    return result.json["data"]


def import_teams(*args: str):
    result = run_qylon_here("meeting", "import", "--from", "teams", "--json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_device_code_sign_in_then_status_and_disconnect(graph, qylon_home):
    graph.approve_after = 2  # two polls are answered authorization_pending first
    result = run_qylon_here("integrations", "connect", "msgraph", "--json")
    assert result.code == 0, result.stderr
    assert "enter the code" in result.stderr  # Microsoft's message, on stderr
    data = result.json["data"]
    assert data["connected"] and data["method"] == "device"
    assert data["account"] == "bob@consult.example"
    status = run_qylon_here("integrations", "status", "msgraph", "--json")
    assert status.json["data"]["refreshable"] is True
    listed = run_qylon_here("integrations", "list", "--json").json["data"]["items"]
    row = next(r for r in listed if r["name"] == "msgraph")
    assert row["kinds"] == ["calendar", "video"] and row["connected"] is True
    gone = run_qylon_here("integrations", "disconnect", "msgraph", "--json")
    assert gone.json["data"]["disconnected"] is True
    assert run_qylon_here("integrations", "status", "msgraph", "--json").json["data"] == {
        "connected": False,
        "method": None,
        "source": None,
    }


def test_a_declined_sign_in_keeps_nothing(graph, qylon_home):
    graph.decline = True
    result = run_qylon_here("integrations", "connect", "msgraph", "--json")
    assert result.code == 4, result.stdout
    assert "denied" in result.json["error"]["message"]
    assert (
        run_qylon_here("integrations", "status", "msgraph", "--json").json["data"]["connected"]
        is False
    )


def test_not_connected_says_how(graph, qylon_home):
    result, out = import_teams()
    assert result.code == 4
    assert "qylon integrations connect msgraph" in out["error"]["hint"]


@pytest.mark.slow  # about 6 s: loads the speech model and transcribes an 11 s clip, once
def test_imports_transcript_and_recording_with_participants_then_skips_them(graph, qylon_home):
    from qylon_agent.store.database import Store

    connect()
    graph.throttle = 1  # the first Graph request is throttled: waited out
    result, out = import_teams("--since", "7d")
    assert result.code == 0, result.stderr
    rows = {r["title"]: r for r in out["data"]["items"]}
    assert set(rows) == {"Weekly sync with Acme", "Speech review"}  # not the 20-day-old one
    assert {r["outcome"] for r in rows.values()} == {"imported"}
    assert rows["Weekly sync with Acme"]["via"] == "transcript"
    assert rows["Speech review"]["via"] == "transcription"

    store = Store()
    synced = store.get_meeting(rows["Weekly sync with Acme"]["meeting_id"])
    assert {s.name for s in synced.speakers} == {"Dana Lee", "Bob Stone"}
    # The attendance report's people, not the invitation's (Erin was invited, not there).
    assert store.participants(synced.id) == [
        {"name": "Dana Lee", "email": "dana@acme.example"},
        {"name": "Bob Stone", "email": "bob@consult.example"},
    ]
    speech = store.get_meeting(rows["Speech review"]["meeting_id"])
    assert "ask not what your country" in " ".join(s.text for s in speech.segments).lower()
    # No attendance report: the event's organizer and attendees.
    assert [p["email"] for p in store.participants(speech.id)] == [
        "bob@consult.example",
        "carol@x.example",
    ]
    # The Acme session came through its transcript: its video was never downloaded.
    kinds = [d["item"] for d in graph.downloads]
    assert len(kinds) == 2 and len(set(kinds)) == 2

    again, out = import_teams("--since", "7d")
    assert again.code == 0, again.stderr
    assert {r["outcome"] for r in out["data"]["items"]} == {"skipped"}
    assert len(store.list_meetings()) == 2


@pytest.mark.slow  # transcribes the 11 s clip once
def test_download_cut_midway_resumes_without_a_second_copy(graph, qylon_home):
    from qylon_agent.store.database import Store

    connect()
    meeting_id = graph.meeting_of(graph.review)
    item = graph.recordings[meeting_id][0]["id"]
    size = len(graph.content[item])
    graph.cut[item] = size // 2
    graph.events = [graph.review]

    first, out = import_teams("--since", "7d")
    assert first.code == 7, first.stderr
    assert "broke off" in first.json["error"]["message"]
    folder = qylon_home / "imports" / "teams"
    parts = list(folder.glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == size // 2

    second, out = import_teams("--since", "7d")
    assert second.code == 0, second.stderr
    assert out["data"]["items"][0]["outcome"] == "imported"
    resumed = [d for d in graph.downloads if d["item"] == item][-1]
    assert resumed["range"] == f"bytes={size // 2}-" and resumed["status"] == 206
    assert [p.name for p in folder.iterdir()] == [parts[0].name.removesuffix(".part")]
    assert len(Store().list_meetings()) == 1


def test_an_expired_token_is_refreshed_and_since_reaches_back(graph, qylon_home):
    from qylon_msgraph import auth

    connect()
    first_refresh = auth.stored()["refresh_token"]
    graph.events = [
        e for e in graph.events if e["subject"] in ("Weekly sync with Acme", "Old kick-off")
    ]
    auth.save({**auth.stored(), "expires_at": time.time()})  # expired: the next use refreshes
    result, out = import_teams("--since", "30d")
    assert result.code == 0, result.stderr
    assert {r["title"] for r in out["data"]["items"]} == {"Weekly sync with Acme", "Old kick-off"}
    kept = auth.stored()
    assert kept["refresh_token"] != first_refresh and kept["expires_at"] > time.time() + 3000
    assert first_refresh not in graph.refresh_tokens  # the used one is spent


def test_without_the_plugin_it_says_what_to_install(qylon_home):
    result = run_qylon_here("meeting", "import", "--from", "teams", "--json")
    assert result.code == 2
    assert "qylon-msgraph" in result.json["error"]["message"] + result.json["error"]["hint"]


def test_an_unreachable_sign_in_exits_6(graph, qylon_home, monkeypatch):
    monkeypatch.setenv("QYLON_MSGRAPH_AUTHORITY", "https://127.0.0.1:9/organizations")
    result = run_qylon_here("integrations", "connect", "msgraph", "--json")
    assert result.code == 6, result.stdout + result.stderr
    assert "did not answer" in result.json["error"]["message"]

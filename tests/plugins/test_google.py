"""The Google integration end to end: the loopback sign-in with PKCE, `qylon meeting import
--from meet` and Google Calendar, against a stateful Google fake on loopback
(tests/plugins/google_fake.py), the plugin loaded through its entry point, the CLI run
in-process.

A conference with Meet's transcript (entries naming their participants, imported without
transcribing) and its calendar event (the title, the attendees' addresses), and one with
only its recording in Drive (jfk.wav as MP4, transcribed by the normal pipeline).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here
from .google_fake import FakeGoogle
from .loopback import load_plugin

SAID = [
    ("Dana Lee", 1.2, "Good morning, the migration finished over the weekend."),
    ("Bob Stone", 5.9, "Great. I will send the migration report by Friday."),
    ("Dana Lee", 10.6, "Accounting still has to sign off <today> & tomorrow."),
]


@pytest.fixture(scope="module")
def fake():
    with FakeGoogle() as server:
        yield server


@pytest.fixture(scope="module")
def jfk_mp4(jfk_wav, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("meet") / "jfk.mp4"
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
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


@pytest.fixture
def google(fake, jfk_mp4, monkeypatch, tmp_path, qylon_home):
    from qylon_google import auth

    load_plugin("google", monkeypatch, tmp_path)
    state = fake.reset()
    state.page_size_cap = 1  # every list takes several pages
    state.acme = state.add_conference(
        _ago(2),
        30,
        ["Dana Lee", "Bob Stone", "Dana Lee"],  # Dana rejoined
        said=SAID,
        video=jfk_mp4,
        event=("Weekly sync with Acme", [("Dana Lee", "dana@acme.example")]),
    )
    state.speech = state.add_conference(_ago(1), 2, ["Carol Vance"], video=jfk_mp4)
    state.add_conference(
        _ago(20), 30, ["Dana Lee", "Bob Stone"], said=SAID, event=("Old kick-off", [])
    )
    state.add_conference(_ago(1.5), 5, ["Nobody"])  # nothing recorded: not listed
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},google",
        "GOOGLE_MEET_BASE": f"{fake.url}/v2",
        "GOOGLE_CALENDAR_BASE": f"{fake.url}/calendar/v3",
        "GOOGLE_DRIVE_BASE": f"{fake.url}/drive/v3",
        "GOOGLE_AUTH_URL": f"{fake.url}/o/oauth2/v2/auth",
        "GOOGLE_TOKEN_URL": f"{fake.url}/token",
        "GOOGLE_CLIENT_ID": state.client["id"],
        "GOOGLE_CLIENT_SECRET": state.client["secret"],
        "GOOGLE_REDIRECT_PORT": "0",
        "SPEAKERS_DIARIZE": "false",
        "INSIGHTS_EXTRACTOR": "offline",
    }.items():
        monkeypatch.setenv(f"QYLON_{key}", value)

    def browser(url: str) -> None:  # the user consents: Google redirects to the loopback port
        threading.Thread(target=httpx2.get, args=(url,), kwargs={"follow_redirects": True}).start()

    creds = auth.oauth_sign_in(auth.Config.load(), open_url=browser, timeout=10)
    assert creds["refresh_token"] and state.token_grants == ["authorization_code"]
    return state


def import_meet(*args: str):
    result = run_qylon_here("meeting", "import", "--from", "meet", "--json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


@pytest.mark.slow  # about 6 s: loads the speech model and transcribes an 11 s clip, once
def test_imports_transcript_and_recording_with_participants_then_skips_them(google):
    from qylon_agent.store.database import Store

    google.throttle = 1  # the first request is rate-limited: waited out
    result, out = import_meet("--since", "7d")
    assert result.code == 0, result.stderr
    rows = {r["title"]: r for r in out["data"]["items"]}
    untitled = f"Meet {google.spaces[google.speech['space']]['meetingCode']}"  # no event
    assert set(rows) == {"Weekly sync with Acme", untitled}
    assert rows["Weekly sync with Acme"]["via"] == "transcript"
    assert rows[untitled]["via"] == "transcription"
    store = Store()
    synced = store.get_meeting(rows["Weekly sync with Acme"]["meeting_id"])
    assert {s.name for s in synced.speakers} == {"Dana Lee", "Bob Stone"}
    assert synced.segments[2].text == "Accounting still has to sign off <today> & tomorrow."
    assert round(synced.segments[1].start, 1) == 5.9
    assert store.participants(synced.id) == [
        {"name": "Dana Lee", "email": "dana@acme.example"},  # the address from the calendar
        {"name": "Bob Stone", "email": None},
    ]
    speech = store.get_meeting(rows[untitled]["meeting_id"])
    assert "ask not what your country" in " ".join(s.text for s in speech.segments).lower()
    assert [d["status"] for d in google.downloads] == [200]  # one Drive download: the audio one

    again, out = import_meet("--since", "7d")
    assert again.code == 0, again.stderr
    assert {r["outcome"] for r in out["data"]["items"]} == {"skipped"}
    assert len(store.list_meetings()) == 2


def test_transcripts_since_a_month_with_a_refresh_and_a_drive_download_resumed(google, tmp_path):
    from qylon_google import auth

    google.records.pop(google.speech["name"].rsplit("/", 1)[1])  # nothing to transcribe here
    auth.save({**auth.stored(), "expires_at": time.time()})  # expired: the next use refreshes
    kept = auth.stored()["refresh_token"]
    result, out = import_meet("--since", "30d")
    assert result.code == 0, result.stderr
    assert {r["title"] for r in out["data"]["items"]} == {"Weekly sync with Acme", "Old kick-off"}
    assert google.token_grants[-1] == "refresh_token" and auth.stored()["refresh_token"] == kept

    # The Drive download itself resumes like the others (qylon_cli.downloads).
    from qylon_google.provider import Google

    from qylon_cli.errors import Unavailable
    from qylon_cli.providers import RecordingFile

    provider = Google()
    file_id = next(iter(google.files))
    size = len(google.files[file_id])
    google.cut[file_id] = size // 3
    url = f"{provider.config.drive_base}/files/{file_id}?alt=media"
    file = RecordingFile(id=file_id, kind="video", extension="mp4", download_url=url)
    with pytest.raises(Unavailable, match="broke off"):
        provider.download(file, tmp_path / "clip.mp4")
    provider.download(file, tmp_path / "clip.mp4")
    assert (tmp_path / "clip.mp4").read_bytes() == google.files[file_id]
    assert google.downloads[-1]["range"] == f"bytes={size // 3}-"


def test_google_calendar_names_the_client(google, monkeypatch):
    from qylon_agent.store.database import Store

    google.add_event(
        "Budget review",
        datetime.now(UTC) - timedelta(minutes=5),
        30,
        [("Gil Roy", "gil@globex.com")],
        code="live-call",
    )
    monkeypatch.setenv("QYLON_CALENDAR_PROVIDER", "google")
    Store().db["clients_cache"].insert(
        {"id": "c1", "name": "Globex", "domain": "globex.com", "tags": "[]", "status": "active"}
    )
    result = run_qylon_here("meeting", "calendar", "--json")
    assert result.code == 0, result.stderr
    now = result.json["data"]["current"]
    assert (now["title"], now["client"]) == ("Budget review", "Globex")
    assert now["meeting_url"] == "https://meet.google.com/live-call"
    assert [p["email"] for p in now["attendees"]] == ["bob@consult.example", "gil@globex.com"]
    status = run_qylon_here("integrations", "status", "google", "--json").json["data"]
    assert status["connected"] and status["refreshable"]
    listed = run_qylon_here("integrations", "list", "--json").json["data"]["items"]
    row = next(r for r in listed if r["name"] == "google")
    assert row["kinds"] == ["calendar", "video"] and row["auth"] == "oauth (PKCE)"


def test_without_the_plugin_it_says_what_to_install(qylon_home):
    result = run_qylon_here("meeting", "import", "--from", "meet", "--json")
    assert result.code == 2
    assert "qylon-google" in result.json["error"]["message"] + result.json["error"]["hint"]

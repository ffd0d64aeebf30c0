"""The Zoom integration end to end: `qylon meeting import --from zoom` against a stateful
Zoom fake on loopback (tests/plugins/zoom_fake.py), the plugin loaded through its entry
point, the CLI run in-process (``run_qylon_here``: the transcription model stays loaded).

Two recordings: one with Zoom's transcript (WebVTT, imported without transcribing), one
with only its audio (jfk.wav as M4A, transcribed by the normal pipeline).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here
from .loopback import load_plugin
from .zoom_fake import FakeZoom

# Zoom's transcript as it writes it: numbered cues, the speaker as "Name: text".
ZOOM_VTT = """WEBVTT

1
00:00:01.200 --> 00:00:05.400
Dana Lee: Good morning, the migration finished over the weekend.

2
00:00:05.900 --> 00:00:10.100
Bob Stone: Great. I will send the migration report by Friday.

3
00:00:10.600 --> 00:00:14.000
Dana Lee: Accounting still has to sign off.
"""
SLASHED_UUID = "/ajXp112QmuoKj4854875==//x"  # double-encoded in the participants path


@pytest.fixture(scope="module")
def fake():
    with FakeZoom() as server:
        yield server


@pytest.fixture(scope="module")
def jfk_m4a(jfk_wav, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("zoom") / "jfk.m4a"
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


def _ago(days: float) -> str:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture
def zoom(fake, jfk_m4a, monkeypatch, tmp_path):
    load_plugin("zoom", monkeypatch, tmp_path)
    state = fake.reset()
    state.page_size_cap = 1  # every list takes several pages
    state.vtt = state.add_recording(
        "4444AAAiAAAAAiAiAiiAii==",
        "Weekly sync with Acme",
        _ago(2),
        14,
        [
            ("M4A", "audio_only", jfk_m4a),
            ("TRANSCRIPT", "audio_transcript", ZOOM_VTT.encode()),
        ],
        [("Dana Lee", "dana@acme.example"), ("Bob Stone", "bob@consult.example")],
    )
    state.audio = state.add_recording(
        SLASHED_UUID,
        "Speech review",
        _ago(1),
        1,
        [("M4A", "audio_only", jfk_m4a)],
        [("Carol Vance", "carol@consult.example"), ("Carol Vance", "carol@consult.example")],
    )
    state.old = state.add_recording(
        "OLDoldOLDold==",
        "Old kick-off",
        _ago(20),
        30,
        [("TRANSCRIPT", "audio_transcript", ZOOM_VTT.encode())],
    )
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},zoom",
        "ZOOM_API_BASE": f"{fake.url}/v2",
        "ZOOM_TOKEN_URL": f"{fake.url}/oauth/token",
        "ZOOM_AUTH_URL": f"{fake.url}/oauth/authorize",
        "ZOOM_ACCOUNT_ID": state.client["account"],
        "ZOOM_CLIENT_ID": state.client["id"],
        "ZOOM_CLIENT_SECRET": state.client["secret"],
        "SPEAKERS_DIARIZE": "false",
        "INSIGHTS_EXTRACTOR": "offline",
    }.items():
        monkeypatch.setenv(f"QYLON_{key}", value)
    return state


def import_zoom(*args: str):
    result = run_qylon_here("meeting", "import", "--from", "zoom", "--json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


@pytest.mark.slow  # about 6 s: loads the speech model and transcribes an 11 s clip, once
def test_imports_two_recordings_with_participants_then_skips_them(zoom, qylon_home):
    from qylon_agent.store.database import Store

    zoom.throttle = 1  # the first request is rate-limited: waited out
    result, out = import_zoom("--since", "7d")
    assert result.code == 0, result.stderr
    rows = {r["title"]: r for r in out["data"]["items"]}
    assert set(rows) == {"Weekly sync with Acme", "Speech review"}  # not the 20-day-old one
    assert {r["outcome"] for r in rows.values()} == {"imported"}
    assert rows["Weekly sync with Acme"]["via"] == "transcript"
    assert rows["Speech review"]["via"] == "transcription"
    assert rows["Speech review"]["participants"] == ["Carol Vance"]  # rejoined: listed once

    store = Store()
    synced = store.get_meeting(rows["Weekly sync with Acme"]["meeting_id"])
    assert {s.name for s in synced.speakers} == {"Dana Lee", "Bob Stone"}
    assert synced.created_at.isoformat()[:16] == zoom.vtt["start_time"][:16]
    assert [p["email"] for p in store.participants(synced.id)] == [
        "dana@acme.example",
        "bob@consult.example",
    ]
    speech = store.get_meeting(rows["Speech review"]["meeting_id"])
    assert "ask not what your country" in " ".join(s.text for s in speech.segments).lower()
    assert store.participants(speech.id) == [
        {"name": "Carol Vance", "email": "carol@consult.example"}
    ]
    # Only the audio recording's file was downloaded (the other came through its transcript).
    assert len([d for d in zoom.downloads if d["file"] in zoom.files]) == 2

    again, out = import_zoom("--since", "7d")
    assert again.code == 0, again.stderr
    assert {r["outcome"] for r in out["data"]["items"]} == {"skipped"}
    assert len(store.list_meetings()) == 2


def test_since_takes_older_recordings(zoom, qylon_home):
    zoom.meetings.remove(zoom.audio)  # no transcription here: only transcripts
    result, out = import_zoom("--since", "30d")
    assert result.code == 0, result.stderr
    assert {r["title"] for r in out["data"]["items"]} == {"Weekly sync with Acme", "Old kick-off"}
    table = run_qylon_here("meeting", "import", "--from", "zoom", "--since", "30d")
    assert table.code == 0, table.stderr
    assert (
        "skipped" in table.stdout and "Old kick-off" in table.stdout and "Dana Lee" in table.stdout
    )


def test_download_cut_midway_resumes_without_a_second_copy(zoom, qylon_home):
    from qylon_agent.store.database import Store

    zoom.meetings.remove(zoom.vtt)
    file_id = zoom.audio["recording_files"][0]["id"]
    size = len(zoom.files[file_id])
    zoom.cut[file_id] = size // 2

    first, out = import_zoom("--since", "7d")
    assert first.code == 7, first.stderr
    error = first.json["error"]
    assert error["code"] == "import_incomplete" and "broke off" in error["message"]
    assert error["recordings"][0]["outcome"] == "failed"
    assert "Downloading Speech review: " in first.stderr
    folder = qylon_home / "imports" / "zoom"
    parts = list(folder.glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == size // 2
    assert Store().list_meetings() == []

    second, out = import_zoom("--since", "7d")
    assert second.code == 0, second.stderr
    assert out["data"]["items"][0]["outcome"] == "imported"
    resumed = [d for d in zoom.downloads if d["file"] == file_id][-1]
    assert resumed["range"] == f"bytes={size // 2}-" and resumed["status"] == 206
    assert [p.name for p in folder.iterdir()] == [parts[0].name.removesuffix(".part")]
    assert (folder / parts[0].name.removesuffix(".part")).read_bytes() == zoom.files[file_id]
    assert len(Store().list_meetings()) == 1
    _third, out = import_zoom("--since", "7d")
    assert out["data"]["items"][0]["outcome"] == "skipped" and len(Store().list_meetings()) == 1


def test_uuid_path_encoding(zoom):
    from qylon_zoom.provider import meeting_path_id

    assert meeting_path_id("4444AAAiAAAAAiAiAiiAii==") == "4444AAAiAAAAAiAiAiiAii%3D%3D"
    assert meeting_path_id("/ajXp112QmuoKj4854875==") == "%252FajXp112QmuoKj4854875%253D%253D"


def test_oauth_with_pkce_then_a_rotating_refresh(zoom, monkeypatch):
    """The user's own app: PKCE on a loopback redirect; each refresh answers a new refresh
    token that replaces the old one (which Zoom then refuses)."""
    import threading
    import time

    import httpx2
    from qylon_zoom import auth
    from qylon_zoom.provider import Zoom

    from qylon_cli import plugins

    monkeypatch.delenv("QYLON_ZOOM_ACCOUNT_ID")  # no Server-to-Server app: the user signs in
    monkeypatch.setenv("QYLON_ZOOM_REDIRECT_PORT", "0")
    plugins.reset()

    def browser(url: str) -> None:  # the user consents: Zoom redirects to the loopback port
        threading.Thread(target=httpx2.get, args=(url,), kwargs={"follow_redirects": True}).start()

    config = auth.Config.load()
    creds = auth.oauth_sign_in(config, open_url=browser, timeout=10)
    assert creds["type"] == "oauth" and Zoom().status()["method"] == "oauth"
    first_refresh = creds["refresh_token"]

    zoom.meetings.remove(zoom.audio)  # only transcripts: nothing to transcribe here
    auth.save({**auth.stored(), "expires_at": time.time()})  # expired: the next use refreshes
    result, out = import_zoom("--since", "30d")
    assert result.code == 0, result.stdout
    assert {r["outcome"] for r in out["data"]["items"]} == {"imported"}
    kept = auth.stored()
    assert kept["refresh_token"] != first_refresh  # the rotated one is kept
    assert first_refresh not in zoom.refresh_tokens and kept["refresh_token"] in zoom.refresh_tokens


def test_without_the_plugin_it_says_what_to_install(qylon_home):
    result = run_qylon_here("meeting", "import", "--from", "zoom", "--json")
    assert result.code == 2
    assert "qylon-zoom" in result.json["error"]["message"] + result.json["error"]["hint"]

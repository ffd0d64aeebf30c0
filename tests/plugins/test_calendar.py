"""The calendar through Microsoft Graph's fake (tests/plugins/msgraph_fake.py): `qylon
meeting calendar` (current and next event, the client by attendee domain, the local copy,
offline), `meeting record` taking the current event's title, client and attendees, and the
agent's `auto_record = "calendar"` recording an event with a video link from its start to
its end. Real audio through the private PulseAudio server for the last two."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from ..agent import conftest as agent_fixtures
from ..conftest import TEST_PLUGINS, run_qylon, run_qylon_here
from .loopback import load_plugin
from .msgraph_fake import FakeGraph

pulse = agent_fixtures.pulse  # the session's PulseAudio server (tests/agent/pulse.py)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with FakeGraph(tmp_path_factory.mktemp("msgraph") / "ca.pem") as server:
        yield server


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


@pytest.fixture
def graph(fake, monkeypatch, tmp_path, qylon_home):
    from qylon_agent.store.database import Store

    load_plugin("msgraph", monkeypatch, tmp_path)
    state = fake.reset()
    state.page_size_cap = 2
    state.add_event("Breakfast", _now() - timedelta(minutes=30), 60, teams=False)
    state.current = state.add_event(
        "Weekly sync with Acme",
        _now() - timedelta(minutes=10),
        30,
        [("Dana Lee", "dana@acme.example"), ("Erin Fox", "erin@acme.example")],
    )
    state.add_event(
        "Globex kick-off", _now() + timedelta(hours=2), 45, [("Gil Roy", "gil@globex.com")]
    )
    state.add_event("Next week", _now() + timedelta(days=7), 30)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},msgraph",
        "MSGRAPH_API_BASE": f"{fake.url}/v1.0",
        "MSGRAPH_AUTHORITY": f"{fake.authority_url}/organizations",
        "MSGRAPH_CLIENT_ID": state.client_id,
        "CALENDAR_PROVIDER": "msgraph",
        "CALENDAR_CLIENT_DOMAINS": "globex.com=Globex Corp",
    }.items():
        monkeypatch.setenv(f"QYLON_{key}", value)
    # The client list as `qylon sync` leaves it: Acme's domain is known.
    Store().db["clients_cache"].insert_all(
        [
            {
                "id": "c1",
                "name": "Acme",
                "domain": "acme.example",
                "tags": "[]",
                "status": "active",
            },
            {
                "id": "c2",
                "name": "Old Acme",
                "domain": "old.example",
                "tags": "[]",
                "status": "archived",
            },
        ]
    )
    assert run_qylon_here("integrations", "connect", "msgraph", "--json").code == 0
    return state


def calendar(*args: str):
    return run_qylon_here("meeting", "calendar", "--json", *args)


def test_current_and_next_with_their_clients_then_the_local_copy_then_offline(graph, monkeypatch):
    result = calendar()
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert data["provider"] == "msgraph" and data["source"] == "calendar"
    now, following = data["current"], data["next"]
    assert now["title"] == "Weekly sync with Acme" and now["client"] == "Acme"  # the client list
    assert now["meeting_url"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert [p["email"] for p in now["attendees"]] == [
        "bob@consult.example",  # the organizer
        "dana@acme.example",
        "erin@acme.example",
    ]
    assert (
        following["title"] == "Globex kick-off" and following["client"] == "Globex Corp"
    )  # the rule
    calls = graph.calendar_calls

    again = calendar()
    assert again.json["data"]["source"] == "cache" and graph.calendar_calls == calls

    monkeypatch.setenv("QYLON_MSGRAPH_API_BASE", "http://127.0.0.1:9/v1.0")  # nothing listens
    offline = calendar("--refresh")
    assert offline.code == 0, offline.stderr
    assert offline.json["data"]["source"] == "offline"
    assert offline.json["data"]["current"]["title"] == "Weekly sync with Acme"
    assert "could not be reached" in offline.stderr

    table = run_qylon_here("meeting", "calendar")
    assert "Weekly sync with Acme" in table.stdout and "client: Acme" in table.stdout


def test_without_a_calendar_it_says_how_to_set_one(graph, monkeypatch):
    monkeypatch.setenv("QYLON_CALENDAR_PROVIDER", "")
    result = calendar()
    assert result.code == 2 and "calendar.provider" in result.json["error"]["hint"]


def test_offline_with_no_copy_fails_clearly(graph, monkeypatch):
    monkeypatch.setenv("QYLON_MSGRAPH_API_BASE", "http://127.0.0.1:9/v1.0")
    result = calendar()
    assert result.code == 6, result.stdout
    assert "Microsoft Graph did not answer" in result.json["error"]["message"]


def _env() -> dict:
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("QYLON_", "PYTHON_KEYRING", "REQUESTS_"))
    }


@pytest.mark.slow  # records 4 s of real audio and transcribes it
def test_record_takes_the_current_events_title_client_and_attendees(
    graph,
    pulse,
    qylon_home,
    jfk_wav,
):
    from qylon_agent.store.database import Store

    from ..agent.test_record import Run

    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--max-duration",
        "4",
        "--json",
        env={**_env(), "QYLON_SPEAKERS_DIARIZE": "false", "QYLON_INSIGHTS_EXTRACTOR": "offline"},
    )
    meta = run.manifest()
    assert meta["title"] == "Weekly sync with Acme" and meta["client"] == "Acme"
    pulse.play(jfk_wav).wait(timeout=30)
    code, out, err = run.finish()
    assert code == 0, err
    assert "From the calendar: Weekly sync with Acme, client Acme" in err
    import json

    meeting = json.loads(out)["data"]["meeting"]
    assert meeting["title"] == "Weekly sync with Acme" and meeting["client"] == "Acme"
    store = Store()
    assert [p["email"] for p in store.participants(meeting["id"])] == [
        "bob@consult.example",
        "dana@acme.example",
        "erin@acme.example",
    ]
    assert store.meeting_event(meeting["id"])["event_id"] == graph.current["id"]


@pytest.mark.slow  # the agent records a short event of real audio, then transcribes it
def test_the_agent_records_a_calendar_event_from_its_start_to_its_end(
    graph,
    pulse,
    qylon_home,
    jfk_wav,
):
    from qylon_agent.store.database import Store

    from ..agent.test_daemon import agent_jobs, agent_status, wait_for

    graph.events.remove(graph.current)
    short = graph.add_event(
        "Quick call with Acme",
        _now() - timedelta(seconds=1),
        1,
        [("Dana Lee", "dana@acme.example")],
    )
    short["end"]["dateTime"] = (_now() + timedelta(seconds=25)).strftime(
        "%Y-%m-%dT%H:%M:%S.0000000"
    )
    env = {
        **_env(),
        **{k: pulse.env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "HOME")},
        "QYLON_AGENT_AUTO_RECORD": "calendar",
        "QYLON_AGENT_DETECT_MEETINGS": "false",
        "QYLON_CALENDAR_REFRESH_S": "1",
        "QYLON_SPEAKERS_DIARIZE": "false",
        "QYLON_INSIGHTS_EXTRACTOR": "offline",
    }
    assert run_qylon("agent", "start", env=env).code == 0
    try:
        wait_for(lambda: agent_status().get("recording"), timeout=30)
        assert agent_status()["calendar_event"] == "Quick call with Acme"
        pulse.play(jfk_wav, sink="micsink").wait(timeout=30)
        [job] = wait_for(lambda: agent_jobs("done"), 120)  # stopped at the event's end
        assert agent_status()["recording"] is None
        store = Store()
        meeting = store.get_meeting(job["result"]["meeting_id"])
        assert (meeting.title, meeting.client) == ("Quick call with Acme", "Acme")
        assert [p["name"] for p in store.participants(meeting.id)] == ["Bob Stone", "Dana Lee"]
    finally:
        run_qylon("agent", "stop", env=env)
        log = qylon_home / "agent" / "agent.log"  # shown when the test fails
        print(log.read_text()[-5000:] if log.exists() else "no agent log")


def test_auto_record_is_off_detect_or_calendar(qylon_home):
    from qylon_agent.daemon.process import auto_record_mode

    assert run_qylon_here("config", "set", "agent.auto_record", "calendar").code == 0
    typo = run_qylon_here("config", "set", "agent.auto_record", "calender", "--json")
    assert typo.code == 3 and "off, detect, calendar" in typo.json["error"]["message"]
    # true (the setting was once a switch) still records detected meetings.
    assert [auto_record_mode(v) for v in (True, "true", "detect", "calendar", False, "off")] == [
        "detect",
        "detect",
        "detect",
        "calendar",
        "off",
        "off",
    ]

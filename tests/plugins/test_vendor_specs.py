"""The vendors' fakes kept honest against the vendors' published descriptions
(vendor_spec.py, specs/): a request or an answer that breaks the description is refused
with the validation error, and schemathesis, given each description, finds no answer of a
fake that is a server error or breaks the description.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from .google_fake import FakeGoogle
from .hubspot_fake import FakeHubSpot
from .msgraph_fake import FakeGraph
from .specs.convert import openapi
from .zoom_fake import FakeZoom

TOKEN = "spec-token"
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _hubspot(_tmp):
    fake = FakeHubSpot()
    return fake, lambda s: (
        s.add("contacts", {"email": "dana@acme.example", "firstname": "Dana"}),
        s.add("companies", {"name": "Acme", "domain": "acme.example"}),
        s.add_owner("bob@consult.example", "Bob", "Stone"),
    )


def _zoom(_tmp):
    fake = FakeZoom()
    return fake, lambda s: s.add_recording(
        "4444AAAiAAAAAiAiAiiAii==",
        "Weekly sync",
        "2026-11-02T09:30:00Z",
        30,
        [("M4A", "audio_only", b"\0" * 64)],
        [("Dana Lee", "dana@acme.example")],
    )


def _google(_tmp):
    fake = FakeGoogle()
    return fake, lambda s: s.add_conference(
        START,
        30,
        ["Dana Lee", "Bob Stone"],
        said=[("Dana Lee", 1.0, "Good morning.")],
        video=b"\0" * 64,
        event=("Weekly sync", [("Dana Lee", "dana@acme.example")]),
    )


def _msgraph(tmp):
    fake = FakeGraph(tmp / "ca.pem")

    def seed(s):
        event = s.add_event("Weekly sync", START, 30, [("Dana Lee", "dana@acme.example")])
        s.add_session(
            event,
            START,
            30,
            video=b"\0" * 64,
            vtt=b"WEBVTT\n",
            attended=[("Dana Lee", "dana@acme.example")],
        )

    return fake, seed


FAKES = {"hubspot": _hubspot, "zoom": _zoom, "google": _google, "msgraph": _msgraph}


@pytest.fixture(params=sorted(FAKES))
def seeded(request, tmp_path):
    """Each fake, seeded with a little of everything it serves, a token accepted."""
    fake, seed = FAKES[request.param](tmp_path)
    with fake:
        seed(fake.state)
        fake.state.tokens.add(TOKEN)
        yield request.param, fake


# A request of the wrong shape for each fake: a parameter of the wrong type.
WRONG = {
    "hubspot": ("POST", "/crm/v3/objects/contacts/search", {"json": {"limit": "ten"}}),
    "zoom": (
        "GET",
        "/v2/users/me/recordings",
        {"params": {"from": "2026-11-01", "to": "2026-11-30", "page_size": "many"}},
    ),
    "google": ("GET", "/v2/conferenceRecords", {"params": {"pageSize": "many"}}),
    "msgraph": (
        "GET",
        "/v1.0/me/calendarView",
        {"params": {"startDateTime": "2026-11-01T00:00:00"}},
    ),
}


def _walk(vendor: str, s) -> list[tuple[str, str, dict]]:
    """Every operation of the fake's description, with the ids of what is seeded."""
    if vendor == "hubspot":
        contact = next(iter(s.objects["contacts"]))
        note = {
            "properties": {"hs_timestamp": "2026-11-02T09:30:00Z", "hs_note_body": "Met."},
            "associations": [
                {
                    "to": {"id": contact},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
                }
            ],
        }
        search = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "email", "operator": "EQ", "value": "dana@acme.example"}
                    ]
                }
            ],
            "limit": 1,
        }
        return [
            ("POST", "/crm/v3/objects/notes", {"json": note}),
            (
                "GET",
                "/crm/v3/objects/companies",
                {"params": {"limit": 1, "properties": "name,domain"}},
            ),
            ("GET", f"/crm/v3/objects/contacts/{contact}", {}),
            (
                "PATCH",
                f"/crm/v3/objects/contacts/{contact}",
                {"json": {"properties": {"firstname": "Dana"}}},
            ),
            ("POST", "/crm/v3/objects/contacts/search", {"json": search}),
            ("GET", "/crm/v3/owners", {"params": {"limit": 1}}),
            ("GET", "/crm/v4/objects/notes/{note}/associations/contacts", {}),
            ("DELETE", f"/crm/v3/objects/contacts/{contact}", {}),
        ]
    if vendor == "zoom":
        uuid = s.meetings[0]["uuid"]
        return [
            ("GET", "/v2/users/me", {}),
            (
                "GET",
                "/v2/users/me/recordings",
                {"params": {"from": "2026-11-01", "to": "2026-11-30"}},
            ),
            ("GET", f"/v2/past_meetings/{uuid}/participants", {}),
        ]
    if vendor == "google":
        record = next(iter(s.records))
        transcript = s.transcripts[record][0]["name"].rsplit("/", 1)[1]
        file_id = next(iter(s.files))
        return [
            ("GET", "/calendar/v3/calendars/primary", {}),
            (
                "GET",
                "/calendar/v3/calendars/primary/events",
                {
                    "params": {
                        "timeMin": "2026-11-01T00:00:00Z",
                        "singleEvents": "true",
                        "orderBy": "startTime",
                    }
                },
            ),
            (
                "GET",
                "/v2/conferenceRecords",
                {"params": {"filter": 'start_time>="2026-11-01T00:00:00Z"'}},
            ),
            ("GET", f"/v2/conferenceRecords/{record}", {}),
            *[
                ("GET", f"/v2/conferenceRecords/{record}/{k}", {})
                for k in ("participants", "recordings", "transcripts")
            ],
            ("GET", f"/v2/conferenceRecords/{record}/transcripts/{transcript}/entries", {}),
            ("GET", f"/v2/{s.records[record]['space']}", {}),
            ("GET", f"/drive/v3/files/{file_id}", {}),
            ("GET", f"/drive/v3/files/{file_id}", {"params": {"alt": "media"}}),
        ]
    meeting = next(iter(s.meetings))
    base = f"/v1.0/me/onlineMeetings/{meeting}"
    join = s.meetings[meeting]["joinWebUrl"]
    return [
        ("GET", "/v1.0/me", {}),
        (
            "GET",
            "/v1.0/me/calendarView",
            {
                "params": {
                    "startDateTime": "2026-11-01T00:00:00Z",
                    "endDateTime": "2026-12-01T00:00:00Z",
                    "$top": 1,
                }
            },
        ),
        ("GET", "/v1.0/me/onlineMeetings", {"params": {"$filter": f"JoinWebUrl eq '{join}'"}}),
        ("GET", f"{base}/attendanceReports", {}),
        (
            "GET",
            f"{base}/attendanceReports/{s.reports[meeting][0]['id']}",
            {"params": {"$expand": "attendanceRecords"}},
        ),
        *[("GET", f"{base}/{k}", {}) for k in ("recordings", "transcripts")],
        ("GET", f"{base}/recordings/{s.recordings[meeting][0]['id']}/content", {}),
        (
            "GET",
            f"{base}/transcripts/{s.transcripts[meeting][0]['id']}/content",
            {"params": {"$format": "text/vtt"}},
        ),
    ]


def test_every_operation_with_what_is_seeded_fits_the_description(seeded):
    """Each operation the fake serves, asked about what it holds (not only the 404s a
    fuzzer mostly reaches), answers 2xx within the vendor's description."""
    vendor, fake = seeded
    headers = {"Authorization": f"Bearer {TOKEN}"}
    note = None
    for method, path, extra in _walk(vendor, fake.state):
        path = path.replace("{note}", str(note))
        answer = httpx2.request(method, fake.url + path, headers=headers, **extra)
        assert answer.status_code < 300, (method, path, answer.text)
        if path == "/crm/v3/objects/notes":
            note = answer.json()["id"]
    assert not fake.spec.take()
    if vendor == "hubspot":  # the association made with the note was read back
        assert fake.state.exchanges[-2]["response"].startswith(b'{"results":[{"toObjectId"')


def test_a_request_against_the_description_is_refused_with_the_error(seeded):
    vendor, fake = seeded
    method, path, extra = WRONG[vendor]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    wrong = httpx2.request(method, fake.url + path, headers=headers, **extra)
    unknown = httpx2.get(
        f"{fake.url}{path.rsplit('/', 1)[0]}/no-such-thing/at/all", headers=headers
    )
    for answer in (wrong, unknown):
        assert answer.status_code == 500, answer.text
        assert answer.json()["spec_violation"]["side"] == "request"
    errors = [v["error"] for v in fake.spec.take()]
    assert len(errors) == 2, errors
    assert errors[1].startswith("PathNotFound"), errors
    assert not errors[0].startswith("PathNotFound"), errors


def test_an_answer_against_the_description_is_refused_with_the_error(seeded):
    """The fake itself drifting (a field of the wrong type in what it serves) fails."""
    vendor, fake = seeded
    headers = {"Authorization": f"Bearer {TOKEN}"}
    s = fake.state
    if vendor == "hubspot":
        next(iter(s.objects["companies"].values()))["createdAt"] = "yesterday"
        answer = httpx2.get(f"{fake.url}/crm/v3/objects/companies", headers=headers)
    elif vendor == "zoom":
        s.meetings[0]["duration"] = "30 minutes"
        answer = httpx2.get(
            f"{fake.url}/v2/users/me/recordings",
            params={"from": "2026-11-01", "to": "2026-11-30"},
            headers=headers,
        )
    elif vendor == "google":
        next(iter(s.records.values()))["startTime"] = 1762075800
        answer = httpx2.get(f"{fake.url}/v2/conferenceRecords", headers=headers)
    else:
        s.user["displayName"] = ["Bob", "Stone"]
        answer = httpx2.get(f"{fake.url}/v1.0/me", headers=headers)
    assert answer.status_code == 500, answer.text
    assert answer.json()["spec_violation"]["side"] == "response"
    (found,) = fake.spec.take()
    assert found["status"] == 200 and "InvalidData" in found["error"], found


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_description(seeded, tmp_path):
    """Schemathesis on each fake, valid requests only (an invalid one is the client's
    fault, refused above): the coverage phase and ten fuzzed cases an operation (a few
    seconds a fake on an idle machine, its start included); no answer is a 5xx, and each
    fits the description (the fake's own check, and schemathesis's)."""
    vendor, fake = seeded
    spec = tmp_path / f"{vendor}.json"
    spec.write_text(json.dumps(openapi(vendor)))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(spec),
        "--url",
        fake.url,
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance",
        "--mode",
        "positive",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",  # a fixed amount of work (with the seed, the same requests each
        "10",  # run), so a busy machine makes it slower, never flaky
        "--request-timeout",
        "30",
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        "--seed",
        "21",
        "--no-color",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    report = result.stdout + result.stderr
    # schemathesis first probes a path no API has: the one violation to expect
    found = [v for v in fake.spec.take() if not v["path"].startswith("/schemathesis-probe")]
    assert result.returncode == 0, report
    assert not found, found
    assert fake.spec.checked > 40, report  # it did send requests

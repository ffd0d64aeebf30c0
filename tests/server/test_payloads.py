"""Stored JSON payloads carry a version: rows written before envelopes existed (v1, the
bare payload) still read correctly, new rows are written at the current version, and
reads upcast through the registered steps."""

from __future__ import annotations

import uuid

import pytest
from qylon_server import payloads
from qylon_server.db import Database
from qylon_server.models import IdempotencyKey, Meeting
from qylon_server.payloads import CURRENT, read_payload, stored, version_of
from sqlalchemy import select, update

from .test_permissions import meeting_body


def test_v1_rows_without_a_version_read_as_they_were():
    segments = [{"start": 0.0, "end": 1.0, "speaker": "SPEAKER_1", "text": "hi"}]
    assert version_of(segments) == 1 and read_payload("meeting_segments", segments) == segments
    document = {"nickName": "Bo", "v": 3}  # a SCIM document may hold any keys, even "v"
    assert version_of(document) == 1 and read_payload("user_scim", document) == document
    assert read_payload("user_scim", None) is None


def test_new_rows_carry_the_current_version():
    for kind in CURRENT:
        wrapped = stored(kind, {"x": 1})
        assert wrapped == {"v": CURRENT[kind], "payload": {"x": 1}}
        assert read_payload(kind, wrapped) == {"x": 1}


def test_reads_upcast_step_by_step(monkeypatch):
    """A v3 of the segments (say, "text" renamed "words"): v1 and v2 rows read as v3."""
    monkeypatch.setitem(CURRENT, "meeting_segments", 3)
    monkeypatch.setitem(
        payloads.UPCASTERS,
        ("meeting_segments", 2),
        lambda segments: [
            {**{k: v for k, v in s.items() if k != "text"}, "words": s["text"]} for s in segments
        ],
    )
    v1 = [{"start": 0.0, "text": "hi"}]
    v2 = {"v": 2, "payload": [{"start": 0.0, "text": "hi"}]}
    assert (
        read_payload("meeting_segments", v1)
        == read_payload("meeting_segments", v2)
        == [{"start": 0.0, "words": "hi"}]
    )
    with pytest.raises(ValueError, match="newer"):
        read_payload("meeting_segments", {"v": 4, "payload": []})


def test_the_api_reads_v1_rows_and_writes_versioned_ones(api, org, backend):
    meeting_id = str(uuid.uuid4())
    assert (
        api.put(
            f"/v1/meetings/{meeting_id}", org.token, json=meeting_body(meeting_id, None)
        ).status_code
        == 201
    )
    db = Database(backend.admin_url)
    try:
        with db.session(org.id) as s:
            raw = s.scalar(select(Meeting.segments).where(Meeting.id == meeting_id))
            assert (
                raw["v"] == CURRENT["meeting_segments"]
                and raw["payload"][0]["text"] == "Let us begin."
            )
            s.execute(
                update(Meeting).where(Meeting.id == meeting_id).values(segments=raw["payload"])
            )  # as v1 stored it
        got = api.get(f"/v1/meetings/{meeting_id}", org.token).json()
        assert got["segments"][0]["text"] == "Let us begin."

        body = {"items": [{"action": "create", "email": "v1@example.com"}]}
        headers = {"Idempotency-Key": f"payloads-{uuid.uuid4()}"}
        first = api.post("/v1/users/bulk", org.token, json=body, headers=headers).json()
        with db.session(org.id) as s:
            row = s.scalar(
                select(IdempotencyKey).where(IdempotencyKey.key == headers["Idempotency-Key"])
            )
            assert row.response["v"] == CURRENT["idempotency_response"]
            s.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == row.id)
                .values(response=row.response["payload"])
            )
        again = api.post("/v1/users/bulk", org.token, json=body, headers=headers).json()
        assert again["replayed"] is True and again["results"] == first["results"]
    finally:
        db.dispose()

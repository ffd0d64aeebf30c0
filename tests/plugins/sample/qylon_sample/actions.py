"""A workflow action and its compensation."""

from __future__ import annotations

from pydantic import BaseModel


class NoteInput(BaseModel):
    contact_id: str
    body: str


def create_note(data: NoteInput) -> dict:
    return {"note_id": f"note-for-{data.contact_id}", "body": data.body}


def delete_note(data: NoteInput, result: dict) -> None:
    result["deleted"] = True


class SlowInput(BaseModel):
    seconds: float


def slow(data: SlowInput) -> dict:
    """Takes its time (to try step timeouts)."""
    import time

    time.sleep(data.seconds)
    return {"slept": data.seconds}

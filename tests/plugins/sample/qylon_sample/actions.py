"""A workflow action and its compensation."""

from __future__ import annotations

from pydantic import BaseModel

from qylon_cli.plugins import StepContext


class NoteInput(BaseModel):
    contact_id: str
    body: str


def create_note(data: NoteInput, context: StepContext) -> dict:
    """A CRM that deduplicates would be sent ``context.idempotency_key``."""
    return {
        "note_id": f"note-for-{data.contact_id}",
        "body": data.body,
        "idempotency_key": context.idempotency_key,
    }


def delete_note(data: NoteInput, result: dict) -> None:
    result["deleted"] = True


class SlowInput(BaseModel):
    seconds: float


def slow(data: SlowInput) -> dict:
    """Takes its time (to try step timeouts)."""
    import time

    time.sleep(data.seconds)
    return {"slept": data.seconds}

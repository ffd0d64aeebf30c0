"""Salesforce's workflow actions: ``salesforce.post_note`` (a ContentNote shared with the
record) and ``salesforce.create_task`` (a Task), each with a compensation that deletes what
it created.

They run in the team server's workflow engine with the credentials the server process has
(``QYLON_SALESFORCE_TOKEN`` and ``QYLON_SALESFORCE_INSTANCE_URL``, or its keyring): an
organisation's own encrypted connection is not there yet (issue 21). ``record_id`` is a
Contact's or an Account's id (Salesforce's id prefixes tell them apart: 003, 001).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class NoteInput(BaseModel):
    record_id: str = Field(min_length=15, description="The Contact's or Account's id.")
    title: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, description="The note's text (HTML allowed).")


class TaskInput(BaseModel):
    record_id: str = Field(min_length=15, description="The Contact's or Account's id.")
    subject: str = Field(min_length=1, max_length=255)
    due: date | None = Field(None, description="ActivityDate (else today).")
    owner: str | None = Field(None, description="The Salesforce user's email or name.")
    body: str | None = None


def _client():
    from .client import SalesforceClient

    return SalesforceClient()


def post_note(data: NoteInput) -> dict:
    import base64

    client = _client()
    try:
        content = base64.b64encode(data.body.encode("utf-8")).decode("ascii")
        note_id = client.create("ContentNote", {"Title": data.title, "Content": content})
        client.create(
            "ContentDocumentLink",
            {"ContentDocumentId": note_id, "LinkedEntityId": data.record_id, "ShareType": "V"},
        )
    finally:
        client.close()
    return {"note_id": note_id}


def create_task(data: TaskInput) -> dict:
    from .push import user_index

    client = _client()
    try:
        owner_id = user_index(client).get(data.owner.strip().lower()) if data.owner else None
        who = "WhoId" if data.record_id.startswith("003") else "WhatId"
        fields = {
            "Subject": data.subject,
            "ActivityDate": (data.due or date.today()).isoformat(),
            "Status": "Not Started",
            "Priority": "Normal",
            who: data.record_id,
        }
        if data.body:
            fields["Description"] = data.body
        if owner_id:
            fields["OwnerId"] = owner_id
        task_id = client.create("Task", fields)
    finally:
        client.close()
    return {"task_id": task_id, "owner_id": owner_id}


def _delete(sobject: str, record_id: str | None) -> bool:
    if not record_id:
        return False
    from .push import delete_record

    client = _client()
    try:
        delete_record(client, sobject, record_id)
    finally:
        client.close()
    return True


def delete_note(data: NoteInput, result: dict) -> dict:
    """Deleting the ContentNote's document deletes its links too."""
    return {**result, "deleted": _delete("ContentNote", result.get("note_id"))}


def delete_task(data: TaskInput, result: dict) -> dict:
    return {**result, "deleted": _delete("Task", result.get("task_id"))}

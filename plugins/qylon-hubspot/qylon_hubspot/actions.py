"""HubSpot's workflow actions: ``hubspot.post_note`` and ``hubspot.create_task``, each with
a compensation that deletes what it created (a run that fails later leaves no stray note
or task in HubSpot).

They run in the team server's workflow engine with the credentials the server process has
(``QYLON_HUBSPOT_TOKEN``, or the keyring of the account it runs as): an organisation's own
encrypted connection is not there yet (issue 21). The note or task hangs on a contact
(``contact_id``) or a company (``company_id``), HubSpot's ids.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator


class Target(BaseModel):
    contact_id: str | None = Field(None, description="The HubSpot contact's id.")
    company_id: str | None = Field(None, description="The HubSpot company's id.")

    @model_validator(mode="after")
    def _one(self):
        if not (self.contact_id or self.company_id):
            raise ValueError("contact_id or company_id is required")
        return self

    def association(self, objects: str) -> dict:
        from .push import ASSOCIATION

        kind, oid = (
            ("contact", self.contact_id) if self.contact_id else ("company", self.company_id)
        )
        return {
            "to": {"id": oid},
            "types": [
                {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": ASSOCIATION[(objects, kind)],
                }
            ],
        }


class NoteInput(Target):
    body: str = Field(min_length=1, description="The note's text (HTML allowed).")


class TaskInput(Target):
    subject: str = Field(min_length=1)
    due: date | None = Field(None, description="The due date (else today).")
    owner: str | None = Field(None, description="The HubSpot user's email or name.")
    body: str | None = None


def _create(objects: str, props: dict, target: Target) -> str:
    from .client import HubSpotClient

    client = HubSpotClient()
    try:
        made = client.request(
            "POST",
            f"/crm/v3/objects/{objects}",
            json={"properties": props, "associations": [target.association(objects)]},
        )
    finally:
        client.close()
    return made["id"]


def _delete(objects: str, oid: str | None) -> bool:
    """Archive (HubSpot's delete) the object; one already gone counts as deleted."""
    from .client import HubSpotClient
    from .push import archive

    if not oid:
        return False
    client = HubSpotClient()
    try:
        archive(client, objects, oid)
    finally:
        client.close()
    return True


def post_note(data: NoteInput) -> dict:
    from datetime import UTC

    from .push import stamp

    props = {"hs_timestamp": stamp(datetime.now(UTC)), "hs_note_body": data.body}
    return {"note_id": _create("notes", props, data)}


def delete_note(data: NoteInput, result: dict) -> dict:
    return {**result, "deleted": _delete("notes", result.get("note_id"))}


def create_task(data: TaskInput) -> dict:
    from datetime import UTC, time

    from .client import HubSpotClient
    from .push import owner_index, stamp

    owner_id = None
    if data.owner:
        client = HubSpotClient()
        try:
            owner_id = owner_index(client).get(data.owner.strip().lower())
        finally:
            client.close()
    due = datetime.combine(data.due or date.today(), time(17, 0), UTC)
    props = {
        "hs_timestamp": stamp(due),
        "hs_task_subject": data.subject,
        "hs_task_body": data.body or "",
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
    }
    if owner_id:
        props["hubspot_owner_id"] = owner_id
    return {"task_id": _create("tasks", props, data), "owner_id": owner_id}


def delete_task(data: TaskInput, result: dict) -> dict:
    return {**result, "deleted": _delete("tasks", result.get("task_id"))}

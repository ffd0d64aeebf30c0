"""A meeting into HubSpot: a note (summary and decisions) and one task per action item, on
the contact found by the participants' emails, else on the company named as the client.

Idempotent: the caller hands in the ids an earlier push stored (``known``: ``"note"`` and
``"task:<item id>"`` -> HubSpot id); those objects are updated (PATCH), the others created
with their association. Each object written is reported through ``record`` at once, and
each failure is reported item by item rather than stopping the push.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time

from qylon_cli.errors import NotFound, QylonError
from qylon_cli.providers import (
    CrmMeeting,
    CrmTask,
    PushedItem,
    PushResult,
    people_index,
    prune_tasks,
)

from .client import HubSpotClient

# HubSpot-defined association types (CRM associations v4, "HUBSPOT_DEFINED").
ASSOCIATION = {
    ("notes", "contact"): 202,
    ("notes", "company"): 190,
    ("tasks", "contact"): 204,
    ("tasks", "company"): 192,
}


def find_target(client: HubSpotClient, meeting: CrmMeeting) -> dict:
    """The contact with one of the participants' emails (in the order given), else the
    company whose name is the meeting's client."""
    emails = [e.strip().lower() for e in meeting.emails if e.strip()]
    if emails:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "IN", "values": emails}]}
            ],
            "properties": ["email", "firstname", "lastname"],
            "sorts": [],
            "limit": 100,
        }
        found = {
            (c["properties"].get("email") or "").lower(): c
            for c in client.pages("POST", "/crm/v3/objects/contacts/search", body=body)
        }
        for email in emails:
            if email in found:
                props = found[email]["properties"]
                name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
                return {"type": "contact", "id": found[email]["id"], "name": name or email}
    if meeting.client:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "name", "operator": "EQ", "value": meeting.client}]}
            ],
            "properties": ["name", "domain"],
            "sorts": [],
            "limit": 10,
        }
        for company in client.pages("POST", "/crm/v3/objects/companies/search", body=body):
            return {"type": "company", "id": company["id"], "name": company["properties"]["name"]}
    looked = ", ".join(emails) or "no participant emails"
    raise NotFound(
        f"No HubSpot contact ({looked}) nor company ({meeting.client or 'no client'}) to push to.",
        hint="Name a participant's email with --email, or set the meeting's client to the company's name.",
    )


def owner_index(client: HubSpotClient) -> dict[str, str]:
    """HubSpot owners (users) by lower-cased email, full name and first name (when unique)."""
    return people_index(
        (o["id"], o.get("email"), o.get("firstName"), o.get("lastName"))
        for o in client.pages("GET", "/crm/v3/owners", limit=100)
        if not o.get("archived")
    )


def note_body(meeting: CrmMeeting) -> str:
    """The note's HTML: title and date, summary, decisions."""
    return meeting.note_html()


def stamp(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_properties(task: CrmTask, meeting: CrmMeeting, owner_id: str | None) -> dict:
    due = datetime.combine(task.due, time(17, 0), UTC) if task.due else meeting.when
    props = {
        "hs_timestamp": stamp(due),  # a task's due date
        "hs_task_subject": task.subject,
        "hs_task_body": f"From the meeting {meeting.title!r} ({meeting.when.date().isoformat()}).",
        "hs_task_status": "COMPLETED" if task.done else "NOT_STARTED",
        "hs_task_type": "TODO",
    }
    if owner_id:
        props["hubspot_owner_id"] = owner_id
    return props


def _write(
    client: HubSpotClient, objects: str, target: dict, crm_id: str | None, props: dict
) -> tuple[str, str]:
    """Update the object ``crm_id`` (created anew if it was deleted in HubSpot), or create
    it associated to the target. Returns (id, "created" | "updated")."""
    if crm_id:
        try:
            client.request(
                "PATCH", f"/crm/v3/objects/{objects}/{crm_id}", json={"properties": props}
            )
            return crm_id, "updated"
        except NotFound:
            pass
    association = {
        "to": {"id": target["id"]},
        "types": [
            {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": ASSOCIATION[(objects, target["type"])],
            }
        ],
    }
    made = client.request(
        "POST",
        f"/crm/v3/objects/{objects}",
        json={"properties": props, "associations": [association]},
    )
    return made["id"], "created"


def push_meeting(
    client: HubSpotClient,
    meeting: CrmMeeting,
    known: dict[str, str],
    record: Callable[[PushedItem], None] | None = None,
) -> PushResult:
    target = find_target(client, meeting)
    result = PushResult(provider="hubspot", target=target)
    owners = owner_index(client) if any(t.owner for t in meeting.tasks) else {}

    def done(item: PushedItem) -> None:
        result.items.append(item)
        if record and item.crm_id:
            record(item)

    note_props = {"hs_timestamp": stamp(meeting.when), "hs_note_body": note_body(meeting)}
    try:
        crm_id, outcome = _write(client, "notes", target, known.get(meeting.note_key), note_props)
        done(PushedItem(key=meeting.note_key, kind="note", crm_id=crm_id, outcome=outcome))
    except QylonError as exc:
        done(PushedItem(key=meeting.note_key, kind="note", outcome="failed", error=exc.message))
    for task in meeting.tasks:
        key = f"task:{task.key}"
        owner_id = owners.get(task.owner.strip().lower()) if task.owner else None
        if task.owner and owner_id is None:
            result.warnings.append(
                f"No HubSpot user matches the owner {task.owner!r}: the task {task.subject!r} is unassigned."
            )
        try:
            props = task_properties(task, meeting, owner_id)
            crm_id, outcome = _write(client, "tasks", target, known.get(key), props)
            done(
                PushedItem(key=key, kind="task", crm_id=crm_id, outcome=outcome, owner_id=owner_id)
            )
        except QylonError as exc:
            done(PushedItem(key=key, kind="task", outcome="failed", error=exc.message))
    prune_tasks(meeting, known, lambda crm_id: archive(client, "tasks", crm_id), done)
    return result


def archive(client: HubSpotClient, objects: str, crm_id: str) -> None:
    """HubSpot's delete (an archive); one already gone counts as deleted."""
    try:
        client.request("DELETE", f"/crm/v3/objects/{objects}/{crm_id}")
    except NotFound:
        pass

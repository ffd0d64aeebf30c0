"""A meeting into Salesforce: one note and one Task per action item, on the Contact found by
the participants' emails, else on the Account named as the meeting's client.

- The note is a ``ContentNote`` (Salesforce's notes since Lightning; the old ``Note`` object
  is Classic's), its HTML body base64-encoded in ``Content``, shared with the contact (and
  its account) or the account by ``ContentDocumentLink`` rows.
- Each action item is a ``Task``: ``Subject``, ``ActivityDate`` (the due date),
  ``Status``, ``OwnerId`` (the ``User`` with the owner's email or name), ``WhoId`` (the
  contact) and ``WhatId`` (the account), as Salesforce's activity model has them.

Idempotent: the caller hands in the ids an earlier push stored (``known``: ``"note"`` and
``"task:<item id>"`` -> Salesforce id); those records are updated (PATCH), the others
created. A record deleted in Salesforce is created again. Failures are reported item by item.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from qylon_cli.errors import NotFound, QylonError
from qylon_cli.providers import (
    CrmMeeting,
    CrmTask,
    PushedItem,
    PushResult,
    people_index,
    prune_tasks,
)

from .client import SalesforceClient, quote


def find_target(client: SalesforceClient, meeting: CrmMeeting) -> tuple[dict, str | None]:
    """The target (``{"type", "id", "name"}``) and the account the records also relate to."""
    emails = [e.strip().lower() for e in meeting.emails if e.strip()]
    if emails:
        soql = (
            "SELECT Id, Name, Email, AccountId FROM Contact WHERE Email IN ("
            + ", ".join(quote(e) for e in emails)
            + ")"
        )
        found = {(c.get("Email") or "").lower(): c for c in client.query(soql)}
        for email in emails:
            if email in found:
                c = found[email]
                target = {"type": "contact", "id": c["Id"], "name": c.get("Name") or email}
                return target, c.get("AccountId")
    if meeting.client:
        soql = f"SELECT Id, Name FROM Account WHERE Name = {quote(meeting.client)} LIMIT 1"
        for account in client.query(soql):
            return {"type": "account", "id": account["Id"], "name": account["Name"]}, account["Id"]
    looked = ", ".join(emails) or "no participant emails"
    raise NotFound(
        f"No Salesforce contact ({looked}) nor account ({meeting.client or 'no client'}) to push to.",
        hint="Name a participant's email with --email, or set the meeting's client to the account's name.",
    )


def user_index(client: SalesforceClient) -> dict[str, str]:
    """Active Salesforce users by lower-cased email, full name and first name (when unique)."""
    soql = "SELECT Id, Email, FirstName, LastName FROM User WHERE IsActive = true"
    return people_index(
        (u["Id"], u.get("Email"), u.get("FirstName"), u.get("LastName")) for u in client.query(soql)
    )


def note_fields(meeting: CrmMeeting) -> dict:
    content = base64.b64encode(meeting.note_html().encode("utf-8")).decode("ascii")
    title = f"{meeting.title} ({meeting.when.date().isoformat()})"
    return {"Title": title[:255], "Content": content}


def task_fields(
    task: CrmTask, meeting: CrmMeeting, target: dict, account_id: str | None, owner_id: str | None
) -> dict:
    fields = {
        "Subject": task.subject[:255],
        "ActivityDate": (task.due or meeting.when.date()).isoformat(),
        "Status": "Completed" if task.done else "Not Started",
        "Priority": "Normal",
        "Description": f"From the meeting {meeting.title!r} ({meeting.when.date().isoformat()}).",
    }
    if target["type"] == "contact":
        fields["WhoId"] = target["id"]
    if account_id:
        fields["WhatId"] = account_id
    if owner_id:
        fields["OwnerId"] = owner_id
    return fields


def _write_note(
    client: SalesforceClient, fields: dict, crm_id: str | None, linked: list[str]
) -> tuple[str, str]:
    if crm_id:
        try:
            client.update("ContentNote", crm_id, fields)
            return crm_id, "updated"
        except NotFound:
            pass
    note_id = client.create("ContentNote", fields)
    for entity in linked:
        client.create(
            "ContentDocumentLink",
            {"ContentDocumentId": note_id, "LinkedEntityId": entity, "ShareType": "V"},
        )
    return note_id, "created"


def _write_task(client: SalesforceClient, fields: dict, crm_id: str | None) -> tuple[str, str]:
    if crm_id:
        try:
            client.update("Task", crm_id, fields)
            return crm_id, "updated"
        except NotFound:
            pass
    return client.create("Task", fields), "created"


def push_meeting(
    client: SalesforceClient,
    meeting: CrmMeeting,
    known: dict[str, str],
    record: Callable[[PushedItem], None] | None = None,
) -> PushResult:
    target, account_id = find_target(client, meeting)
    result = PushResult(provider="salesforce", target=target)
    users = user_index(client) if any(t.owner for t in meeting.tasks) else {}

    def done(item: PushedItem) -> None:
        result.items.append(item)
        if record and item.crm_id:
            record(item)

    linked = list(dict.fromkeys(i for i in (target["id"], account_id) if i))
    try:
        crm_id, outcome = _write_note(
            client, note_fields(meeting), known.get(meeting.note_key), linked
        )
        done(PushedItem(key=meeting.note_key, kind="note", crm_id=crm_id, outcome=outcome))
    except QylonError as exc:
        done(PushedItem(key=meeting.note_key, kind="note", outcome="failed", error=exc.message))
    for task in meeting.tasks:
        key = f"task:{task.key}"
        owner_id = users.get(task.owner.strip().lower()) if task.owner else None
        if task.owner and owner_id is None:
            result.warnings.append(
                f"No Salesforce user matches the owner {task.owner!r}: the task {task.subject!r} is assigned to you."
            )
        try:
            fields = task_fields(task, meeting, target, account_id, owner_id)
            crm_id, outcome = _write_task(client, fields, known.get(key))
            done(
                PushedItem(key=key, kind="task", crm_id=crm_id, outcome=outcome, owner_id=owner_id)
            )
        except QylonError as exc:
            done(PushedItem(key=key, kind="task", outcome="failed", error=exc.message))
    prune_tasks(meeting, known, lambda crm_id: delete_record(client, "Task", crm_id), done)
    return result


def delete_record(client: SalesforceClient, sobject: str, record_id: str) -> None:
    """Delete a record; one already deleted (ENTITY_IS_DELETED) counts as deleted."""
    try:
        client.request("DELETE", f"{client.data}/sobjects/{sobject}/{record_id}")
    except NotFound:
        pass

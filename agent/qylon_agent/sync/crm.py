"""A stored meeting pushed to a CRM (``qylon meeting push ID --to hubspot``).

The CRM is a provider plugin (``qylon_cli.providers.MeetingPusher``); the agent never
imports it. The agent hands it the meeting (summary, decisions, action items, the
participants' emails: those given, speakers named by an email, and the attendees the
video platform or the calendar listed) and the ids an earlier push stored, and stores each id the provider
reports as soon as it is written, so that a second push (or one after a partial failure)
updates rather than duplicates.
"""

from __future__ import annotations

from qylon_cli.errors import PartialFailure, UsageError
from qylon_cli.providers import CrmMeeting, CrmTask, MeetingPusher, PushedItem, PushResult
from qylon_cli.schemas import Meeting

from ..store.database import Store


class PushIncomplete(PartialFailure):
    """Some items reached the CRM and some did not (exit 7); ``details`` (the push's report,
    item by item) goes into the JSON error. Pushing again retries only what failed."""

    code = "push_incomplete"


def _emails(meeting: Meeting, given: list[str]) -> list[str]:
    """The emails given, then any speaker named by an email address."""
    found = [e.strip() for e in given if e.strip()]
    found += [s.name for s in meeting.speakers if s.name and "@" in s.name]
    return list(dict.fromkeys(e.lower() for e in found))


def crm_meeting(meeting: Meeting, emails: list[str]) -> CrmMeeting:
    return CrmMeeting(
        id=meeting.id,
        title=meeting.title,
        client=meeting.client,
        when=meeting.created_at,
        summary=meeting.summary,
        decisions=meeting.decisions,
        emails=_emails(meeting, emails),
        tasks=[
            CrmTask(key=a.id, subject=a.task, owner=a.owner, due=a.due, done=a.status == "done")
            for a in meeting.action_items
        ],
    )


def pusher(name: str) -> MeetingPusher:
    from qylon_cli import plugins

    made = plugins.require("crm", name, f"`qylon meeting push --to {name}`")
    if not isinstance(made, MeetingPusher):
        raise UsageError(f"The {name} integration cannot push meetings.")
    return made


def push(
    store: Store,
    ref: str,
    to: str,
    *,
    emails: list[str] = (),
    follow_up: tuple[str, str] | None = None,
) -> PushResult:
    """Push the meeting ``ref``; PushIncomplete when any item failed. With ``follow_up``
    (subject, HTML) only the follow-up draft goes, as a note of its own beside the
    meeting's note (attached again, it updates that note)."""
    target = pusher(to)  # before anything else: a missing plugin is a usage error
    meeting = store.get_meeting(ref)

    def record(item: PushedItem) -> None:
        if item.outcome == "deleted":
            store.drop_crm_link(meeting.id, to, item.key)
        else:
            store.set_crm_link(meeting.id, to, item.key, item.kind, item.crm_id)

    known = store.crm_links(meeting.id, to)
    # the emails given, then those of the people the video platform or the calendar listed
    attended = [p["email"] for p in store.participants(meeting.id) if p.get("email")]
    sent = crm_meeting(meeting, [*emails, *attended])
    if follow_up is not None:
        subject, html = follow_up
        sent = sent.model_copy(
            update={"title": subject, "note_key": "follow_up", "note_body": html, "tasks": []}
        )
        known = {k: v for k, v in known.items() if k == "follow_up"}  # its tasks stay as they are
    result = target.push_meeting(sent, known, record)
    if result.failed:
        raise PushIncomplete(
            f"{len(result.failed)} of {len(result.items)} items did not reach {to}: "
            + "; ".join(f"{i.key}: {i.error}" for i in result.failed),
            hint="Run the same push again: what reached it is updated, not duplicated.",
            details={"push": result.model_dump(mode="json")},
        )
    return result


def auto_push_targets(settings) -> list[str]:
    """The CRMs ``agent.auto_push`` names (``"hubspot"``, ``"hubspot,salesforce"``)."""
    return [
        n.strip() for n in str(settings.get("agent.auto_push", "") or "").split(",") if n.strip()
    ]

"""What a provider plugin implements: a CRM, a video platform or a calendar.

A plugin registers a factory (``register(kind="crm", name="hubspot",
factory="pkg.mod:HubSpot", auth="oauth")``); ``qylon_cli.plugins.provider(kind, name)``
makes one. The protocols and their models live here, in the host, so integrations
import only ``qylon_cli``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Contact(BaseModel):
    id: str
    name: str
    email: str | None = None
    company: str | None = None


class Note(BaseModel):
    id: str | None = None
    contact_id: str | None = None
    body: str
    created_at: datetime | None = None


class RecordingFile(BaseModel):
    """One file of a cloud recording: the audio, the video or the vendor's transcript."""

    id: str
    kind: Literal["audio", "video", "transcript", "other"]
    file_type: str | None = Field(None, description="The vendor's own type: M4A, MP4, TRANSCRIPT.")
    extension: str = Field(description="The file name's extension, without the dot: m4a, vtt.")
    size: int | None = None
    download_url: str


class Participant(BaseModel):
    name: str
    email: str | None = None


class Recording(BaseModel):
    id: str
    title: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    download_url: str | None = None
    participants: list[Participant] = Field(default_factory=list, description="Who attended.")
    files: list[RecordingFile] = Field(default_factory=list)

    def best(self) -> RecordingFile | None:
        """What to import: the vendor's transcript, else the audio, else the video."""
        for kind in ("transcript", "audio", "video"):
            for f in self.files:
                if f.kind == kind:
                    return f
        return None


class Event(BaseModel):
    """A calendar event: what ``qylon meeting calendar`` shows and ``meeting record`` uses."""

    id: str
    title: str
    start: datetime
    end: datetime
    attendees: list[Participant] = Field(
        default_factory=list, description="Who was invited, the organizer included."
    )
    meeting_url: str | None = Field(None, description="The video call's join link, if any.")


@runtime_checkable
class CrmProvider(Protocol):
    def find_contacts(self, query: str) -> list[Contact]: ...

    def create_note(self, note: Note) -> Note: ...


@runtime_checkable
class VideoProvider(Protocol):
    def list_recordings(self, since: datetime | None = None) -> list[Recording]: ...


class Configured:
    """What every integration's provider shares: its settings, read at first use
    (``config_type.load()``) unless given, and the warnings a command prints after it."""

    config_type: ClassVar[Any]

    def __init__(self, config: Any = None) -> None:
        self._config = config
        self.warnings: list[str] = []

    @property
    def config(self) -> Any:
        if self._config is None:
            self._config = self.config_type.load()
        return self._config


class RecordingSource(Configured):
    """A video platform's provider (a ``RecordingDownloader``): each download on a client
    of its own (``client()``, a ``backoff.BearerClient``), resumable, closed after."""

    def client(self) -> Any:
        raise NotImplementedError

    def download(
        self,
        file: RecordingFile,
        dest: Path,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        client = self.client()
        try:
            return self.fetch(client, file, dest, on_progress)
        finally:
            client.close()

    def fetch(self, client, file: RecordingFile, dest: Path, on_progress) -> Path:
        """One file into ``dest`` on ``client``; a platform with other kinds overrides it."""
        return client.download(file.download_url, dest, file.size, on_progress)


@runtime_checkable
class RecordingDownloader(Protocol):
    """What ``qylon meeting import --from NAME`` needs besides the list: a file fetched into
    ``dest``, resumably (an earlier, interrupted run left ``dest`` + ``.part``: it goes on
    from there), its size checked. ``on_progress(done_bytes, total_bytes)``."""

    def download(
        self,
        file: RecordingFile,
        dest: Path,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Path: ...


@runtime_checkable
class CalendarProvider(Protocol):
    def list_events(self, start: datetime, end: datetime) -> list[Event]: ...


PROTOCOLS = {"crm": CrmProvider, "video": VideoProvider, "calendar": CalendarProvider}


# -- pushing a meeting to a CRM (``qylon meeting push ID --to NAME``) ----------------------
# The agent builds a ``CrmMeeting`` from its store and hands it, with the CRM ids a previous
# push stored, to a provider that meets ``MeetingPusher``; the provider reports each item.


class CrmTask(BaseModel):
    key: str = Field(description="The action item's id in Qylon.")
    subject: str
    owner: str | None = Field(
        None, description="The owner as the meeting names them (name or email)."
    )
    due: date | None = None
    done: bool = False


class CrmMeeting(BaseModel):
    id: str
    title: str
    client: str | None = None
    when: datetime
    summary: str | None = None
    decisions: list[str] = Field(default_factory=list)
    emails: list[str] = Field(
        default_factory=list, description="Participants' email addresses, to find the contact."
    )
    tasks: list[CrmTask] = Field(default_factory=list)
    note_key: str = Field(
        "note",
        description='Which of the meeting\'s notes this is: "note" (summary and decisions), '
        'or "follow_up" (the follow-up draft, `meeting follow-up --attach`).',
    )
    note_body: str | None = Field(None, description="The note's HTML when it is not built here.")

    def note_html(self) -> str:
        """The note's HTML (the subset both HubSpot and Salesforce's ContentNote take):
        ``note_body`` when given, else title and date, summary, decisions."""
        import html

        if self.note_body is not None:
            return self.note_body

        day = self.when.date().isoformat()
        parts = [f"<p><strong>{html.escape(self.title)}</strong> ({day}, from Qylon)</p>"]
        if self.summary:
            parts.append(f"<p>{html.escape(self.summary)}</p>")
        if self.decisions:
            items = "".join(f"<li>{html.escape(d)}</li>" for d in self.decisions)
            parts.append(f"<p><strong>Decisions</strong></p><ul>{items}</ul>")
        return "".join(parts)


def people_index(
    people: Iterable[tuple[str, str | None, str | None, str | None]],
) -> dict[str, str]:
    """CRM users ``(id, email, first name, last name)`` by lower-cased email, full name, and
    first name when only one user has it: how an action item's owner finds its CRM user."""
    index: dict[str, str] = {}
    firsts: dict[str, list[str]] = {}
    for uid, email, first, last in people:
        first, last = first or "", last or ""
        if email:
            index[email.lower()] = uid
        if first and last:
            index[f"{first} {last}".lower()] = uid
        if first:
            firsts.setdefault(first.lower(), []).append(uid)
    for first, ids in firsts.items():
        if len(ids) == 1:
            index.setdefault(first, ids[0])
    return index


class PushedItem(BaseModel):
    key: str = Field(description='"note", "follow_up", or "task:<action item id>".')
    kind: Literal["note", "task"]
    crm_id: str | None = None
    outcome: Literal["created", "updated", "deleted", "failed"] = Field(
        description="deleted: the task of an action item the meeting no longer has."
    )
    error: str | None = None
    owner_id: str | None = Field(None, description="The CRM user the task was assigned to.")


class PushResult(BaseModel):
    provider: str
    target: dict = Field(description='What the note and tasks hang on: {"type", "id", "name"}.')
    items: list[PushedItem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> list[PushedItem]:
        return [i for i in self.items if i.outcome == "failed"]


def prune_tasks(
    meeting: CrmMeeting,
    known: dict[str, str],
    delete: Callable[[str], None],
    done: Callable[[PushedItem], None],
) -> None:
    """Delete (``delete(crm_id)``) the CRM task of each action item an earlier push made
    that the meeting no longer has (a key of ``known`` no task of ``meeting`` has), each
    reported to ``done`` as ``deleted``, or ``failed`` with the error."""
    from .errors import QylonError

    keep = {f"task:{t.key}" for t in meeting.tasks}
    for key, crm_id in known.items():
        if not key.startswith("task:") or key in keep:
            continue
        try:
            delete(crm_id)
            done(PushedItem(key=key, kind="task", crm_id=crm_id, outcome="deleted"))
        except QylonError as exc:
            done(PushedItem(key=key, kind="task", outcome="failed", error=exc.message))


@runtime_checkable
class MeetingPusher(Protocol):
    def push_meeting(
        self,
        meeting: CrmMeeting,
        known: dict[str, str],
        record: Callable[[PushedItem], None] | None = None,
    ) -> PushResult:
        """Create or update (``known``: key -> CRM id from an earlier push) the note and the
        tasks; ``record`` is called after each object is written, so that its id is kept
        even if a later one fails or the process dies."""
        ...


@runtime_checkable
class Connectable(Protocol):
    """What ``qylon integrations connect|status|disconnect NAME`` calls."""

    def status(self) -> dict: ...

    def connect(self, *, method: str, token: str | None = None, **options: Any) -> dict: ...

    def disconnect(self) -> bool: ...


# -- the client list from a CRM (``qylon clients sync --from NAME``) -----------------------


class Company(BaseModel):
    """A CRM's company (HubSpot) or account (Salesforce)."""

    id: str
    name: str
    domain: str | None = None


@runtime_checkable
class CompanyLister(Protocol):
    def list_companies(self) -> Iterable[Company]:
        """Every company in the CRM, page after page."""
        ...

"""The Google providers: Meet recordings and transcripts (``VideoProvider``,
``RecordingDownloader``), Google Calendar (``CalendarProvider``) and the sign-in
(``Connectable``), as ``qylon_cli.providers`` asks of them; one class serves both
registrations (``video:meet``, ``calendar:google``).

A Meet conference (``GET /v2/conferenceRecords``, filtered by start time) is one recording
here: its transcript (``/transcripts`` and their ``/entries``, each entry naming its
participant) is written out as WebVTT with voice tags, else its recording's MP4 is
downloaded from Drive (``driveDestination.file``, ``GET /drive/v3/files/ID?alt=media``).
Conference records have no title: the calendar event whose Meet code matches the space's
gives it (and the attendees' email addresses), else "Meet <code>". Participants come from
``/participants``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from qylon_cli.providers import Event, Participant, Recording, RecordingFile, RecordingSource

from . import auth

DONE = ("FILE_GENERATED", "ENDED")


def when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_time(value: dict) -> datetime:
    """An event's ``{"dateTime"}`` (or ``{"date"}``, all day: midnight UTC)."""
    if value.get("dateTime"):
        return when(value["dateTime"])
    return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)


def _video_link(event: dict) -> str | None:
    for entry in (event.get("conferenceData") or {}).get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return entry["uri"]
    return event.get("hangoutLink")


def _attendees(event: dict) -> list[Participant]:
    found: dict[str, Participant] = {}
    for person in [event.get("organizer") or {}, *(event.get("attendees") or [])]:
        email = (person.get("email") or "").strip() or None
        name = (person.get("displayName") or "").strip() or email
        if name and not person.get("resource"):
            found.setdefault((email or name).lower(), Participant(name=name, email=email))
    return list(found.values())


def _display_name(participant: dict) -> str:
    for kind in ("signedinUser", "anonymousUser", "phoneUser"):
        name = (participant.get(kind) or {}).get("displayName")
        if name:
            return name.strip()
    return "Unknown"


def _stamp(seconds: float) -> str:
    seconds = max(0.0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def entries_vtt(entries: list[dict], names: dict[str, str], start: datetime) -> str:
    """A transcript's entries as WebVTT, each cue in its speaker's voice tag, timed from
    ``start`` (the conference's start)."""
    from html import escape

    cues = ["WEBVTT", ""]
    for entry in entries:
        first, last = when(entry.get("startTime")), when(entry.get("endTime"))
        if not first or not (entry.get("text") or "").strip():
            continue
        last = last or first
        speaker = escape(names.get(entry.get("participant") or "", "Unknown"), quote=False)
        cues += [
            f"{_stamp((first - start).total_seconds())} --> {_stamp((last - start).total_seconds())}",
            f"<v {speaker}>{escape(entry['text'].strip(), quote=False)}</v>",
            "",
        ]
    return "\n".join(cues)


class Google(RecordingSource):
    name = "google"
    methods = ("oauth",)

    config_type = auth.Config

    def client(self):
        from .client import GoogleClient

        return GoogleClient(self.config)

    def _calendar(self, client, start: datetime, end: datetime) -> list[dict]:
        return list(
            client.pages(
                f"{self.config.calendar_base}/calendars/primary/events",
                "items",
                timeMin=_rfc3339(start),
                timeMax=_rfc3339(end),
                singleEvents="true",
                orderBy="startTime",
                maxResults=250,
            )
        )

    # -- CalendarProvider ------------------------------------------------------------------
    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        client = self.client()
        try:
            return [
                Event(
                    id=e["id"],
                    title=e.get("summary") or "(no title)",
                    start=_event_time(e["start"]),
                    end=_event_time(e["end"]),
                    attendees=_attendees(e),
                    meeting_url=_video_link(e),
                )
                for e in self._calendar(client, start, end)
                if e.get("status") != "cancelled"
            ]
        finally:
            client.close()

    # -- VideoProvider ---------------------------------------------------------------------
    def list_recordings(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[Recording]:
        """The Meet conferences from ``since`` (default: a week ago) to ``until`` (default:
        now) that have a transcript or a recording, oldest first."""
        from qylon_cli.errors import QylonError

        until = until or datetime.now(UTC)
        since = since or until - timedelta(days=7)
        client = self.client()
        found: list[Recording] = []
        try:
            try:
                events = self._calendar(client, since - timedelta(days=1), until)
            except QylonError as exc:
                self.warnings.append(f"No titles from the calendar ({exc.message})")
                events = []
            by_code = {}
            for event in events:
                code = (event.get("conferenceData") or {}).get("conferenceId")
                if code:
                    by_code.setdefault(code, event)
            records = client.pages(
                f"{self.config.meet_base}/conferenceRecords",
                "conferenceRecords",
                filter=f'start_time>="{_rfc3339(since)}" AND start_time<="{_rfc3339(until)}"',
                pageSize=100,
            )
            for record in records:
                recording = self._recording(client, record, by_code)
                if recording is not None:
                    found.append(recording)
        finally:
            client.close()
        if client.waits:
            self.warnings.append(
                f"Google's rate limit: waited {len(client.waits)} time(s), {sum(client.waits):.1f} s in all."
            )
        return sorted(found, key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC))

    def _recording(self, client, record: dict, by_code: dict) -> Recording | None:
        from qylon_cli.errors import QylonError

        base, name = self.config.meet_base, record["name"]
        started, ended = when(record.get("startTime")), when(record.get("endTime"))
        files = []
        try:
            for t in client.pages(f"{base}/{name}/transcripts", "transcripts"):
                if t.get("state") in DONE:
                    files.append(
                        RecordingFile(
                            id=t["name"],
                            kind="transcript",
                            file_type="transcript entries",
                            extension="vtt",
                            download_url=t["name"],
                        )
                    )
            for r in client.pages(f"{base}/{name}/recordings", "recordings"):
                drive = (r.get("driveDestination") or {}).get("file")
                if r.get("state") == "FILE_GENERATED" and drive:
                    files.append(
                        RecordingFile(
                            id=drive,
                            kind="video",
                            file_type="video/mp4",
                            extension="mp4",
                            download_url=f"{self.config.drive_base}/files/{drive}?alt=media",
                        )
                    )
            space = client.get(f"{base}/{record['space']}") if record.get("space") else {}
            people = [
                _display_name(p)
                for p in client.pages(f"{base}/{name}/participants", "participants")
            ]
        except QylonError as exc:
            self.warnings.append(f"{name}: skipped ({exc.message})")
            return None
        if not files:
            return None
        code = space.get("meetingCode")
        event = by_code.get(code) or {}
        emails = {p.name.lower(): p.email for p in _attendees(event)}
        unique = list(dict.fromkeys(people))  # someone who rejoined is listed once
        return Recording(
            id=name,
            title=event.get("summary") or f"Meet {code or name.rsplit('/', 1)[-1]}",
            started_at=started,
            duration_s=(ended - started).total_seconds() if started and ended else None,
            participants=[Participant(name=n, email=emails.get(n.lower())) for n in unique],
            files=files,
        )

    # -- RecordingDownloader ---------------------------------------------------------------
    def fetch(self, client, file: RecordingFile, dest: Path, on_progress) -> Path:
        if file.kind == "transcript":
            return self._transcript(client, file.download_url, dest)
        return super().fetch(client, file, dest, on_progress)

    def _transcript(self, client, name: str, dest: Path) -> Path:
        """A transcript's entries written to ``dest`` as WebVTT (whole, or not at all)."""
        base = self.config.meet_base
        record = name.split("/transcripts/")[0]
        conference = client.get(f"{base}/{record}")
        names = {
            p["name"]: _display_name(p)
            for p in client.pages(f"{base}/{record}/participants", "participants")
        }
        entries = list(client.pages(f"{base}/{name}/entries", "transcriptEntries", pageSize=100))
        start = when(conference.get("startTime")) or when(
            entries[0]["startTime"] if entries else None
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        part.write_text(entries_vtt(entries, names, start or datetime.now(UTC)), encoding="utf-8")
        part.replace(dest)
        return dest

    # -- Connectable -----------------------------------------------------------------------
    def connect(self, *, method: str, token: str | None = None, **options) -> dict:
        from qylon_cli.errors import UsageError
        from qylon_cli.oauth import browser_opener

        if method != "oauth":
            raise UsageError(
                f"Google has no sign-in method {method!r}.",
                hint="qylon integrations connect google --oauth",
            )
        auth.oauth_sign_in(
            self.config, open_url=browser_opener("Google", options.get("open_browser", True))
        )
        client = self.client()
        try:
            calendar = client.get(f"{self.config.calendar_base}/calendars/primary")
        finally:
            client.close()
        return {**self.status(), "account": calendar.get("id")}

    def status(self) -> dict:
        creds = auth.stored()
        if creds is None:
            return {"connected": False, "method": None, "source": None}
        return {
            "connected": True,
            "method": creds.get("type"),
            "source": "keyring",
            "expires_at": creds.get("expires_at"),
            "refreshable": bool(creds.get("refresh_token")),
        }

    def disconnect(self) -> bool:
        return auth.forget()

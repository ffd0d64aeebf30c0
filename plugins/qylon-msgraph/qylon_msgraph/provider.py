"""The Microsoft 365 providers: Teams recordings and transcripts (``VideoProvider``,
``RecordingDownloader``), the Outlook calendar (``CalendarProvider``) and the sign-in
(``Connectable``), as ``qylon_cli.providers`` asks of them; one class serves both
registrations (``video:teams``, ``calendar:msgraph``).

Teams meetings are found through the calendar: the user's events in the window
(``/me/calendarView``) that are Teams meetings, their ``onlineMeeting`` by join address
(``/me/onlineMeetings?$filter=JoinWebUrl eq '...'``), then its recordings and transcripts
(``/recordings``, ``/transcripts``, each with its ``content``). A recording and the
transcript of the same session share a ``contentCorrelationId``: together they are one
recording here. Participants come from the meeting's attendance report, else from the
event's attendees.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from qylon_cli.providers import Event, Participant, Recording, RecordingFile, RecordingSource

from . import auth

UTC_PREFER = {"Prefer": 'outlook.timezone="UTC"'}  # calendarView's times in UTC
EVENT_FIELDS = "id,subject,start,end,attendees,organizer,isOnlineMeeting,onlineMeeting,onlineMeetingUrl,isCancelled"


def when(value: str | None) -> datetime | None:
    """A Graph timestamp (``2026-12-02T06:59:22.8367564Z``) as an aware datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _event_time(value: dict | None) -> datetime | None:
    """An event's ``{"dateTime", "timeZone"}``, asked for in UTC."""
    return when((value or {}).get("dateTime"))


def _people(event: dict) -> list[Participant]:
    found: dict[str, Participant] = {}
    for person in [event.get("organizer") or {}, *(event.get("attendees") or [])]:
        address = person.get("emailAddress") or {}
        email = (address.get("address") or "").strip() or None
        name = (address.get("name") or "").strip() or email
        if name:
            found.setdefault((email or name).lower(), Participant(name=name, email=email))
    return list(found.values())


def _join_url(event: dict) -> str | None:
    return (event.get("onlineMeeting") or {}).get("joinUrl") or event.get("onlineMeetingUrl")


class MsGraph(RecordingSource):
    name = "msgraph"
    methods = ("device",)

    config_type = auth.Config

    def client(self):
        from .client import GraphClient

        return GraphClient(self.config)

    def _events(self, client, start: datetime, end: datetime) -> Iterator[dict]:
        yield from client.pages(
            "me/calendarView",
            headers=UTC_PREFER,
            startDateTime=start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            endDateTime=end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            **{"$select": EVENT_FIELDS, "$top": 50, "$orderby": "start/dateTime"},
        )

    # -- CalendarProvider ------------------------------------------------------------------
    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """The user's events that overlap ``start``..``end`` (cancelled ones left out)."""
        client = self.client()
        try:
            return [
                Event(
                    id=e["id"],
                    title=e.get("subject") or "(no title)",
                    start=_event_time(e.get("start")),
                    end=_event_time(e.get("end")),
                    attendees=_people(e),
                    meeting_url=_join_url(e),
                )
                for e in self._events(client, start, end)
                if not e.get("isCancelled")
            ]
        finally:
            client.close()

    # -- VideoProvider ---------------------------------------------------------------------
    def list_recordings(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[Recording]:
        """The recordings and transcripts of the user's Teams meetings from ``since``
        (default: a week ago) to ``until`` (default: now), oldest first."""
        until = until or datetime.now(UTC)
        since = since or until - timedelta(days=7)
        client = self.client()
        found: dict[str, Recording] = {}
        try:
            meetings: dict[str, dict] = {}  # join address -> the first event that has it
            for event in self._events(client, since, until):
                url = _join_url(event)
                if url and event.get("isOnlineMeeting", True) and not event.get("isCancelled"):
                    meetings.setdefault(url, event)
            for url, event in meetings.items():
                for recording in self._recordings(client, url, event):
                    if recording.started_at and since <= recording.started_at <= until:
                        found.setdefault(recording.id, recording)
        finally:
            client.close()
        if client.waits:
            self.warnings.append(
                f"Microsoft Graph's throttling: waited {len(client.waits)} time(s), "
                f"{sum(client.waits):.1f} s in all."
            )
        return sorted(
            found.values(), key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC)
        )

    def _recordings(self, client, join_url: str, event: dict) -> list[Recording]:
        from qylon_cli.errors import QylonError

        title = event.get("subject") or "Teams meeting"
        quoted = join_url.replace("'", "''")
        try:
            online = client.request(
                "GET", "me/onlineMeetings", params={"$filter": f"JoinWebUrl eq '{quoted}'"}
            ).get("value")
            if not online:
                return []
            path = f"me/onlineMeetings/{online[0]['id']}"
            artifacts = [("video", r) for r in client.pages(f"{path}/recordings")]
            artifacts += [("transcript", t) for t in client.pages(f"{path}/transcripts")]
        except QylonError as exc:
            self.warnings.append(f"{title}: no recordings ({exc.message})")
            return []
        sessions: dict[str, Recording] = {}
        for kind, item in artifacts:
            key = item.get("contentCorrelationId") or item["id"]
            started, ended = when(item.get("createdDateTime")), when(item.get("endDateTime"))
            recording = sessions.setdefault(
                key,
                Recording(
                    id=f"{online[0]['id']}:{key}",
                    title=title,
                    started_at=started,
                    duration_s=(ended - started).total_seconds() if started and ended else None,
                ),
            )
            if started and (recording.started_at is None or started < recording.started_at):
                recording.started_at = started
            recording.files.append(self._file(kind, item))
        if not sessions:
            return []
        reports = self._attendance(client, path, title)
        for recording in sessions.values():
            recording.participants = _attendees_at(reports, recording.started_at) or _people(event)
        return list(sessions.values())

    @staticmethod
    def _file(kind: str, item: dict) -> RecordingFile:
        if kind == "transcript":
            url = item.get("transcriptContentUrl") or f"{item['id']}/content"
            return RecordingFile(
                id=item["id"],
                kind="transcript",
                file_type="text/vtt",
                extension="vtt",
                download_url=url + "?$format=text/vtt",
            )
        return RecordingFile(
            id=item["id"],
            kind="video",
            file_type="video/mp4",
            extension="mp4",
            download_url=item.get("recordingContentUrl") or f"{item['id']}/content",
        )

    def _attendance(self, client, path: str, title: str) -> list[dict]:
        """The meeting's attendance reports, each with its ``attendanceRecords``."""
        from qylon_cli.errors import QylonError

        try:
            return [
                client.request(
                    "GET",
                    f"{path}/attendanceReports/{report['id']}",
                    params={"$expand": "attendanceRecords"},
                )
                for report in client.pages(f"{path}/attendanceReports")
            ]
        except QylonError as exc:
            self.warnings.append(f"{title}: no attendance report ({exc.message})")
            return []

    # -- Connectable -----------------------------------------------------------------------
    def connect(self, *, method: str, token: str | None = None, **options) -> dict:
        from qylon_cli.errors import UsageError

        if method != "device":
            raise UsageError(
                f"Microsoft 365 has no sign-in method {method!r} here.",
                hint="qylon integrations connect msgraph (a device code)",
            )
        auth.device_sign_in(self.config, show=_show_code)
        client = self.client()
        try:
            me = client.request("GET", "me")
        finally:
            client.close()
        return {**self.status(), "account": me.get("userPrincipalName") or me.get("mail")}

    def status(self) -> dict:
        creds = auth.stored()
        if creds is None:
            return {"connected": False, "method": None, "source": None}
        return {
            "connected": True,
            "method": creds.get("type"),
            "source": "keyring",
            "account": creds.get("account"),
            "expires_at": creds.get("expires_at"),
            "refreshable": bool(creds.get("refresh_token")),
        }

    def disconnect(self) -> bool:
        return auth.forget()


def _attendees_at(reports: list[dict], started: datetime | None) -> list[Participant]:
    """Who attended the session that ``started`` then: the report whose meeting span holds
    that moment (the only report, when there is one)."""
    chosen = None
    for report in reports:
        first, last = (
            when(report.get("meetingStartDateTime")),
            when(report.get("meetingEndDateTime")),
        )
        if len(reports) == 1 or (started and first and last and first <= started <= last):
            chosen = report
            break
    people: dict[str, Participant] = {}
    for record in (chosen or {}).get("attendanceRecords") or []:
        name = ((record.get("identity") or {}).get("displayName") or "").strip()
        email = (record.get("emailAddress") or "").strip() or None
        if name or email:
            people.setdefault((email or name).lower(), Participant(name=name or email, email=email))
    return list(people.values())


def _show_code(flow: dict) -> None:
    import sys

    print(
        flow.get("message")
        or f"To connect Microsoft 365, open {flow.get('verification_uri')} and enter the code "
        f"{flow.get('user_code')}",
        file=sys.stderr,
        flush=True,
    )

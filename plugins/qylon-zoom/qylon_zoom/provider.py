"""The ``zoom`` video provider: what ``qylon_cli.providers`` asks of a video platform
(``VideoProvider``, ``RecordingDownloader``) and of a sign-in (``Connectable``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

from qylon_cli.providers import Participant, Recording, RecordingFile, RecordingSource

from . import auth

WINDOW_DAYS = 30  # Zoom answers at most a month of recordings per request


def meeting_path_id(uuid: str) -> str:
    """A meeting UUID as a path segment: double-encoded when it starts with ``/`` or holds
    ``//`` (as Zoom's API reference says), else encoded once."""
    from urllib.parse import quote

    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


def _kind(f: dict) -> str:
    file_type = (f.get("file_type") or "").upper()
    if file_type == "TRANSCRIPT":
        return "transcript"
    if f.get("recording_type") == "audio_only" or file_type == "M4A":
        return "audio"
    if file_type == "MP4":
        return "video"
    return "other"


def _file(f: dict) -> RecordingFile:
    extension = (f.get("file_extension") or f.get("file_type") or "bin").lower()
    return RecordingFile(
        id=f["id"],
        kind=_kind(f),
        file_type=f.get("file_type"),
        extension=extension,
        size=f.get("file_size"),
        download_url=f["download_url"],
    )


def _windows(since: date, until: date) -> Iterator[tuple[date, date]]:
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=WINDOW_DAYS - 1))
        yield start, end
        start = end + timedelta(days=1)


class Zoom(RecordingSource):
    name = "zoom"
    methods = ("oauth",)

    config_type = auth.Config

    def client(self):
        from .client import ZoomClient

        return ZoomClient(self.config)

    # -- VideoProvider ---------------------------------------------------------------------
    def list_recordings(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[Recording]:
        """The user's cloud recordings from ``since`` (default: a week ago) to ``until``
        (default: today), oldest first, each with its participants."""
        until_day = (until or datetime.now(UTC)).astimezone(UTC).date()
        since_day = since.astimezone(UTC).date() if since else until_day - timedelta(days=7)
        client = self.client()
        found: dict[str, Recording] = {}
        try:
            for start, end in _windows(since_day, until_day):
                for m in client.pages(
                    "/users/me/recordings",
                    "meetings",
                    **{"from": start.isoformat(), "to": end.isoformat(), "page_size": 300},
                ):
                    recording = self._recording(m)
                    if since and recording.started_at and recording.started_at < since:
                        continue
                    found.setdefault(recording.id, recording)
            for recording in found.values():
                recording.participants = self._participants(client, recording)
        finally:
            client.close()
        if client.waits:
            self.warnings.append(
                f"Zoom's rate limit: waited {len(client.waits)} time(s), {sum(client.waits):.1f} s in all."
            )
        return sorted(
            found.values(), key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC)
        )

    @staticmethod
    def _recording(m: dict) -> Recording:
        started = m.get("start_time")
        return Recording(
            id=m["uuid"],
            title=m.get("topic"),
            started_at=datetime.fromisoformat(started) if started else None,
            duration_s=float(m.get("duration") or 0) * 60,
            files=[
                _file(f)
                for f in m.get("recording_files") or []
                if f.get("status", "completed") == "completed" and f.get("download_url")
            ],
        )

    def _participants(self, client, recording: Recording) -> list[Participant]:
        from qylon_cli.errors import QylonError

        path = f"/past_meetings/{meeting_path_id(recording.id)}/participants"
        people: dict[str, Participant] = {}
        try:
            for p in client.pages(path, "participants", page_size=300):
                name = (p.get("name") or "").strip()
                if name:  # one row per join: someone who rejoined is listed once
                    key = (p.get("user_email") or name).lower()
                    people.setdefault(
                        key, Participant(name=name, email=p.get("user_email") or None)
                    )
        except QylonError as exc:
            self.warnings.append(f"{recording.title}: no participants ({exc.message})")
        return list(people.values())

    # -- Connectable -----------------------------------------------------------------------
    def connect(self, *, method: str, token: str | None = None, **options) -> dict:
        from qylon_cli.errors import UsageError

        if method != "oauth":
            raise UsageError(
                f"Zoom has no sign-in method {method!r}.",
                hint="qylon integrations connect zoom --oauth",
            )
        auth.oauth_sign_in(self.config, open_url=_opener(options.get("open_browser", True)))
        client = self.client()
        try:
            me = client.request("GET", "/users/me")
        finally:
            client.close()
        return {**self.status(), "account": me.get("email") or me.get("id")}

    def status(self) -> dict:
        creds = auth.stored()
        if creds is None:
            return {"connected": False, "method": None, "source": None}
        return {
            "connected": True,
            "method": creds.get("type"),
            "source": "env QYLON_ZOOM_ACCOUNT_ID" if creds.get("env") else "keyring",
            "expires_at": creds.get("expires_at"),
            "refreshable": bool(creds.get("refresh_token")) or bool(creds.get("env")),
        }

    def disconnect(self) -> bool:
        return auth.forget()


def _opener(browser: bool) -> Callable[[str], None]:
    from qylon_cli.oauth import browser_opener

    return browser_opener("Zoom", browser)

"""Notice when a meeting application starts (and stops) using the microphone.

On Linux with PulseAudio or PipeWire (pipewire-pulse), every recording stream is a
"source output" whose properties name the application and its binary. The watcher
follows `pactl subscribe` — the sound server pushes events, so an idle agent spends
no CPU polling — and re-reads the list only when a source output appears or goes.
Elsewhere (or without pactl) it falls back to a slow poll of /proc for processes
holding an ALSA capture device open.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

# binary or application-name pattern -> the name people know the application by
APPS = [
    (re.compile(r"^(zoom|zoom\.real|ZoomWebinar|caphost)$", re.IGNORECASE), "Zoom"),
    (
        re.compile(r"^(teams|ms-teams|teams-for-linux|microsoft teams.*)$", re.IGNORECASE),
        "Microsoft Teams",
    ),
    (re.compile(r"^(webex|CiscoCollabHost|webexmta|atmgr)$", re.IGNORECASE), "Webex"),
    (re.compile(r"^slack$", re.IGNORECASE), "Slack"),
]
BROWSERS = re.compile(
    r"^(chrome|chromium|google-chrome|firefox|msedge|brave|vivaldi|opera)", re.IGNORECASE
)
MEET = re.compile(r"\bmeet\b|meet\.google\.com", re.IGNORECASE)


def identify(props: dict) -> str | None:
    """The meeting application behind a recording stream's properties, if any."""
    names = [props.get("application.process.binary", ""), props.get("application.name", "")]
    for pattern, app in APPS:
        if any(pattern.match(n or "") for n in names):
            return app
    if any(BROWSERS.match(n or "") for n in names):
        title = " ".join(
            props.get(k, "") for k in ("media.name", "application.name", "window.name")
        )
        return "Google Meet" if MEET.search(title) else None
    return None


def pulse_streams() -> list[dict]:
    out = subprocess.run(
        ["pactl", "--format=json", "list", "source-outputs"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if out.returncode != 0:
        raise OSError(out.stderr.strip() or "pactl failed")
    return [s.get("properties", {}) for s in json.loads(out.stdout or "[]")]


def proc_capturing() -> list[dict]:
    """Processes with an ALSA capture device open (/dev/snd/pcmC*D*c), as stream-like props."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(
                os.readlink(f"/proc/{pid}/fd/{fd}").endswith("c")
                and "/dev/snd/pcm" in os.readlink(f"/proc/{pid}/fd/{fd}")
                for fd in fds
            ):
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                found.append({"application.process.binary": comm, "application.process.id": pid})
        except OSError:
            continue
    return found


def active_meetings(own_pids: set[str] = frozenset()) -> set[str]:
    """Names of meeting applications recording right now (excluding our own processes)."""
    try:
        streams = pulse_streams() if shutil.which("pactl") else proc_capturing()
    except (OSError, ValueError, subprocess.TimeoutExpired):
        streams = proc_capturing()
    return {
        app
        for props in streams
        if props.get("application.process.id") not in own_pids and (app := identify(props))
    }


class Watcher:
    """Calls ``on_change(started: set, ended: set)`` when meeting apps start or stop recording."""

    def __init__(self, on_change: Callable[[set[str], set[str]], None], *, poll_s: float = 5.0):
        self.on_change = on_change
        self.poll_s = poll_s
        self.current: set[str] = set()
        self.stop = threading.Event()
        self.proc: subprocess.Popen | None = None

    def _check(self) -> None:
        now = active_meetings({str(os.getpid())})
        started, ended = now - self.current, self.current - now
        self.current = now
        if started or ended:
            self.on_change(started, ended)

    def run(self) -> None:
        while not self.stop.is_set():
            self._check()
            if shutil.which("pactl"):
                self._follow_pulse()  # returns when the sound server goes away
            self.stop.wait(self.poll_s)

    def _follow_pulse(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["pactl", "subscribe"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        except OSError:
            return
        for line in self.proc.stdout:
            if self.stop.is_set():
                break
            if "source-output" in line and ("'new'" in line or "'remove'" in line):
                self._check()
        self.proc.wait()

    def close(self) -> None:
        self.stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

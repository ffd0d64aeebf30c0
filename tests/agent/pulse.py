"""A private PulseAudio server with virtual devices, for real recordings in tests.

One daemon per test session, in its own XDG_RUNTIME_DIR and HOME (so it never meets
the user's server or cookie), with anonymous access on its unix socket:

- ``vsink``: a null sink, the default output; its ``vsink.monitor`` is the system audio.
- ``micsink`` and the source ``mic`` remapped from its monitor: a virtual microphone
  (a real source, not a monitor), fed by playing into ``micsink``.

Each sink gets a silent stream that never ends, because an idle null sink delivers
no samples at all. Works as root (``-n`` skips the system default.pa; the warning
about root is harmless). Daemons and players are stopped by their PIDs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")


def _running(pid: int) -> bool:
    """Alive and not a zombie (a daemon's parent may be an init that never reaps)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class PulseServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qylon-pulse-"))
        (self.dir / "home").mkdir()
        self.socket = self.dir / "pulse" / "native"
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.dir),
            "HOME": str(self.dir / "home"),
            "PULSE_SERVER": f"unix:{self.socket}",
        }
        self.env.pop("PULSE_SOURCE", None)
        self.env.pop("PULSE_SINK", None)
        self.pid: int | None = None
        self.keepalive: list[subprocess.Popen] = []

    # -- life cycle -------------------------------------------------------------
    def start(self) -> PulseServer:
        cmd = [
            "pulseaudio",
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--use-pid-file=yes",
            "--disable-shm=yes",
            "--log-target=stderr",
            "--load=module-native-protocol-unix auth-anonymous=1",
            "--load=module-null-sink sink_name=vsink sink_properties=device.description=System",
            "--load=module-null-sink sink_name=micsink sink_properties=device.description=MicFeed",
            "--load=module-remap-source master=micsink.monitor source_name=mic source_properties=device.description=VirtualMic",
            "--load=module-always-sink",
        ]
        result = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"pulseaudio did not start: {result.stderr[-2000:]}")
        deadline = time.monotonic() + 10
        while not self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid = int((self.dir / "pulse" / "pid").read_text().strip())
        self.pactl("set-default-sink", "vsink")
        self.pactl("set-default-source", "mic")
        for sink in ("vsink", "micsink"):
            self.keepalive.append(self._silence(sink))
        # The sinks deliver samples once the silence streams run: wait until both say RUNNING.
        deadline = time.monotonic() + 15
        while self._running_sinks() < {"vsink", "micsink"}:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the virtual sinks never started running: {self.pactl('list', 'short', 'sinks')}"
                )
            time.sleep(0.05)
        return self

    def _running_sinks(self) -> set[str]:
        """Names of the sinks PulseAudio reports as RUNNING (`pactl list short sinks`)."""
        rows = [line.split("\t") for line in self.pactl("list", "short", "sinks").splitlines()]
        return {row[1] for row in rows if len(row) >= 5 and row[4].strip() == "RUNNING"}

    def _silence(self, sink: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "pacat",
                "--playback",
                "--raw",
                "--rate=16000",
                "--channels=1",
                "--format=s16le",
                "--latency-msec=30",
                f"--device={sink}",
                "/dev/zero",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        for proc in self.keepalive:
            proc.kill()
            proc.wait(timeout=5)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(50):
                    if not _running(self.pid):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- using it -----------------------------------------------------------------
    def pactl(self, *args: str) -> str:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=True, timeout=20
        ).stdout

    def play(self, path: Path, sink: str = "vsink") -> subprocess.Popen:
        return subprocess.Popen(
            ["paplay", "--latency-msec=30", f"--device={sink}", str(path)], env=self.env
        )


def server_fixture():
    """Body of the session fixture: fail (never skip) when the tools are missing."""
    import pytest

    missing = missing_tools()
    if missing:
        pytest.fail(
            f"PulseAudio tools missing: {', '.join(missing)}; `make system-deps` installs them."
        )
    server = PulseServer().start()
    try:
        yield server
    finally:
        server.stop()

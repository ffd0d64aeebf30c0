"""Input devices and loopback (system audio) sources, and picking the ones to record.

PortAudio (sounddevice) lists the devices of every platform. On Linux it reaches
PulseAudio or PipeWire through the ALSA ``pulse`` device, which records from the
server's default source unless ``PULSE_SOURCE`` names another, so the server's own
sources are listed too (through libpulse, by pulsectl): microphones, and the
``.monitor`` of every output, which is the system audio. On Windows the WASAPI host
lists a ``[Loopback]`` input per output device; on macOS a loopback driver such as
BlackHole shows up as an ordinary input (see docs/recording.md).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from qylon_cli.errors import NotFound, Unavailable

LOOPBACK_NAMES = re.compile(
    r"\[loopback\]|blackhole|soundflower|loopback audio|stereo mix|what u hear|\.monitor$|monitor of",
    re.IGNORECASE,
)


@dataclass
class Source:
    name: str  # what --device accepts
    description: str
    kind: str  # "microphone" or "loopback"
    backend: str  # "portaudio" or "pulse"
    index: int | None  # the PortAudio device to open
    channels: int
    default_rate: int
    default: bool = False
    pulse_source: str | None = None  # opened through the ALSA "pulse" device with PULSE_SOURCE
    hostapi: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise Unavailable(
            f"Audio capture needs the PortAudio library: {exc}",
            hint="Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install portaudio.",
            code="no_portaudio",
        ) from None
    return sounddevice


def rescan() -> None:
    """Make PortAudio look for devices again (after one was plugged in or removed)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def portaudio_inputs() -> list[Source]:
    sd = _sd()
    try:
        default_in = sd.default.device[0]
        if default_in is None or default_in < 0:
            default_in = sd.query_hostapis(0)["default_input_device"]
    except (sd.PortAudioError, IndexError):
        default_in = -1
    apis = [api["name"] for api in sd.query_hostapis()]
    found = []
    for dev in sd.query_devices():
        if dev["max_input_channels"] <= 0:
            continue
        loop = bool(LOOPBACK_NAMES.search(dev["name"]))
        found.append(
            Source(
                name=dev["name"],
                description=f"{dev['name']} ({apis[dev['hostapi']]})",
                kind="loopback" if loop else "microphone",
                backend="portaudio",
                index=dev["index"],
                channels=dev["max_input_channels"],
                default_rate=int(dev["default_samplerate"]),
                default=dev["index"] == default_in,
                hostapi=apis[dev["hostapi"]],
            )
        )
    return found


def pulse_sources() -> tuple[list[Source], str | None]:
    """PulseAudio/PipeWire sources and the default sink's monitor, or ([], None)."""
    try:
        import pulsectl
    except (ImportError, OSError):
        return [], None
    pulse_dev = next((s for s in portaudio_inputs() if s.name == "pulse"), None)
    if pulse_dev is None:
        return [], None
    try:
        with pulsectl.Pulse("qylon-devices", connect=True) as pulse:
            return _describe(pulse.server_info(), pulse.source_list(), pulse_dev.index)
    except (pulsectl.PulseError, OSError):
        return [], None


def _describe(info, sources, pulse_index: int) -> tuple[list[Source], str | None]:
    monitor = None
    found = []
    for src in sources:
        is_monitor = src.monitor_of_sink != 0xFFFFFFFF and src.monitor_of_sink is not None
        if is_monitor and src.monitor_of_sink_name == info.default_sink_name:
            monitor = src.name
        found.append(
            Source(
                name=src.name,
                description=src.description,
                kind="loopback" if is_monitor or src.name.endswith(".monitor") else "microphone",
                backend="pulse",
                index=pulse_index,
                channels=min(src.channel_count, 2),
                default_rate=src.sample_spec.rate,
                default=src.name == info.default_source_name,
                pulse_source=src.name,
                hostapi="PulseAudio",
            )
        )
    return found, monitor


def list_sources() -> list[Source]:
    pulse, _ = pulse_sources()
    return pulse + portaudio_inputs()


def _match(sources: list[Source], ref: str) -> Source:
    if ref.isdigit():
        for src in sources:
            if src.backend == "portaudio" and src.index == int(ref):
                return src
    exact = [s for s in sources if s.name == ref]
    if exact:
        return exact[0]
    partial = [
        s for s in sources if ref.lower() in s.name.lower() or ref.lower() in s.description.lower()
    ]
    if len(partial) == 1:
        return partial[0]
    names = ", ".join(s.name for s in sources) or "none"
    what = "matches more than one input" if partial else "is not an input device"
    raise NotFound(
        f"--device {ref!r} {what}.",
        hint=f"`qylon meeting devices` lists them: {names}.",
        code="no_such_device",
    )


def default_input(sources: list[Source]) -> Source:
    for backend in ("pulse", "portaudio"):
        for src in sources:
            if src.backend == backend and src.default:
                return src
    mics = [s for s in sources if s.kind == "microphone"] or sources
    if not mics:
        raise Unavailable(
            "No audio input device found.",
            hint="Plug in a microphone, or check that PulseAudio/PipeWire is running (`qylon meeting devices`).",
            code="no_input_device",
        )
    return mics[0]


def system_source(sources: list[Source], monitor: str | None) -> Source | None:
    """The loopback source that carries what the computer plays, if there is one."""
    if monitor:
        return next((s for s in sources if s.pulse_source == monitor), None)
    loops = [s for s in sources if s.kind == "loopback" and s.backend == "portaudio"]
    return loops[0] if loops else None


def pick(device: str | None, system_audio: bool) -> tuple[list[Source], list[str]]:
    """The sources to record (microphone first) and notes for the user."""
    pulse, monitor = pulse_sources()
    sources = pulse + portaudio_inputs()
    mic = _match(sources, device) if device else default_input(sources)
    chosen, notes = [mic], []
    if system_audio:
        system = system_source(sources, monitor)
        if system is None:
            notes.append(
                "No system-audio source found; recording the microphone only (see docs/recording.md)."
            )
        elif system.name == mic.name:
            notes.append(f"The input {mic.name} already is the system audio; recording it alone.")
        else:
            chosen.append(system)
    return chosen, notes


@contextmanager
def opening(src: Source):
    """Point the ALSA pulse device at ``src`` while its stream is being opened."""
    if src.pulse_source is None:
        yield
        return
    old = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = src.pulse_source
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = old


class PulseWatch:
    """Notices when a PulseAudio/PipeWire source goes away (the server then moves our
    stream to its default source by itself, so the recording goes on)."""

    def __init__(self) -> None:
        import pulsectl

        self.pulse = pulsectl.Pulse("qylon-watch")

    def missing(self, names: list[str]) -> tuple[list[str], str]:
        """The names no longer present, and the server's default source now."""
        present = {s.name for s in self.pulse.source_list()}
        return [n for n in names if n not in present], self.pulse.server_info().default_source_name

    def close(self) -> None:
        self.pulse.close()


def watch(sources: list[Source]) -> PulseWatch | None:
    if not any(s.pulse_source for s in sources):
        return None
    try:
        return PulseWatch()
    except Exception:  # noqa: BLE001 - watching is a nicety; the stall watchdog still works
        return None

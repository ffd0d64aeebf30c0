"""espeak-ng voices and meetings for the diarization tests, generated once per session."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

from tests.conftest import SAMPLES

_spec = importlib.util.spec_from_file_location("make_meeting", SAMPLES / "make_meeting.py")
make_meeting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_meeting)

VOICES = {
    "Dana": '{ voice = "en-us+f3", speed = 165, pitch = 62 }',
    "Marcus": '{ voice = "en-gb-scotland+m3", speed = 140, pitch = 38 }',
    "Priya": '{ voice = "en-gb-x-rp+f5", speed = 185, pitch = 55 }',
}


def build(folder: Path, name: str, turns: list[tuple[str, str]], pause: float = 0.7) -> Path:
    """Write NAME.toml from (speaker, text) turns and synthesise NAME.ogg (+ .rttm); return the .ogg."""
    out = folder / name
    if out.with_suffix(".ogg").exists():
        return out.with_suffix(".ogg")
    voices = "\n".join(f"{who} = {VOICES[who]}" for who in sorted({w for w, _ in turns}))
    body = "\n".join(f'[[turns]]\nspeaker = "{who}"\ntext = "{text}"\n' for who, text in turns)
    script = out.with_suffix(".toml")
    script.write_text(
        textwrap.dedent(f"lead_in = 0.4\npause = {pause}\n[voices]\n{voices}\n\n{body}"), "utf-8"
    )
    make_meeting.build(script, out)
    return out.with_suffix(".ogg")

"""Synthesise a multi-speaker meeting from a TOML script with espeak-ng.

    python samples/make_meeting.py samples/team_meeting.toml samples/team_meeting

writes NAME.ogg (Opus, 16 kHz mono), NAME.txt (reference transcript, one
"Speaker: text" line per turn) and NAME.rttm (who spoke when). Needs espeak-ng
and ffmpeg (Debian: apt-get install espeak-ng ffmpeg). Deterministic for a given
espeak-ng version, so fixtures can be rebuilt.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import wave
from pathlib import Path

RATE = 16000


def speak(text: str, voice: dict, out: Path) -> bytes:
    """Return 16 kHz mono s16le PCM of ``text`` spoken with ``voice``."""
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice["voice"],
            "-s",
            str(voice.get("speed", 160)),
            "-p",
            str(voice.get("pitch", 50)),
            "-a",
            str(voice.get("amplitude", 120)),
            "-w",
            str(out),
            text,
        ],
        check=True,
    )
    pcm = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(out),
            "-ar",
            str(RATE),
            "-ac",
            "1",
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return pcm


def build(script_path: Path, out_base: Path) -> None:
    script = tomllib.loads(script_path.read_text("utf-8"))
    voices = script["voices"]
    pcm = bytearray()
    rttm, lines = [], []
    name = out_base.name
    with tempfile.TemporaryDirectory() as tmp:
        pcm += b"\0\0" * int(RATE * script.get("lead_in", 0.5))
        for i, turn in enumerate(script["turns"]):
            speech = speak(turn["text"], voices[turn["speaker"]], Path(tmp) / f"{i}.wav")
            # Trim espeak's own leading/trailing silence so the RTTM is tight.
            samples = memoryview(speech).cast("h")
            nz = [j for j in range(len(samples)) if abs(samples[j]) > 64]
            if nz:
                speech = speech[nz[0] * 2 : (nz[-1] + 1) * 2]
            start = len(pcm) / 2 / RATE
            pcm += speech
            rttm.append(
                f"SPEAKER {name} 1 {start:.3f} {len(speech) / 2 / RATE:.3f} <NA> <NA> {turn['speaker']} <NA> <NA>"
            )
            lines.append(f"{turn['speaker']}: {turn['text']}")
            pcm += b"\0\0" * int(RATE * turn.get("pause", script.get("pause", 0.7)))
        wav = Path(tmp) / "meeting.wav"
        with wave.open(str(wav), "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(RATE)
            fh.writeframes(bytes(pcm))
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(wav),
                "-c:a",
                "libopus",
                "-b:a",
                "32k",
                "-ar",
                "16000",
                str(out_base.with_suffix(".ogg")),
            ],
            check=True,
        )
    out_base.with_suffix(".txt").write_text("\n".join(lines) + "\n", "utf-8")
    out_base.with_suffix(".rttm").write_text("\n".join(rttm) + "\n", "utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build(Path(sys.argv[1]), Path(sys.argv[2]))

"""`qylon speakers enroll|list|remove`: voice profiles that put names on meeting speakers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer(
    no_args_is_help=True,
)


def _voices():
    from ..speech.voices import Voices
    from ..store.database import Store

    return Voices(Store())


@app.command()
def enroll(
    name: Annotated[
        str,
        typer.Argument(
            help="The person's name, as transcripts should show it.", show_default=False
        ),
    ],
    audio: Annotated[
        list[Path],
        typer.Argument(
            help="One or more clips of them speaking (10-30 s each is best).", show_default=False
        ),
    ],
    json: output.JsonOption = False,
) -> None:
    """Build (or extend) a voice profile from one or more clips.

    Example: qylon speakers enroll "Dana Scully" dana-intro.m4a dana-call.wav
    """
    from ..speech.voices import enroll_files

    profile, warnings = enroll_files(_voices(), name, audio)
    for message in warnings:
        output.warn(message)
    output.emit(
        profile.public(),
        lambda c: c.print(
            f"Enrolled {profile.name}: {profile.samples} sample(s), {profile.speech_s:.0f} s of speech"
        ),
    )


@app.command("list")
def list_(json: output.JsonOption = False) -> None:
    """List enrolled voice profiles.

    Example: qylon speakers list
    """
    rows = [p.public() for p in _voices().list()]

    def human(console, rows) -> None:
        from rich.table import Table

        if not rows:
            console.print(
                "No voice profiles yet. Add one with: qylon speakers enroll NAME clip.wav"
            )
            return
        table = Table(show_header=True, box=None, pad_edge=False)
        for col in ("name", "samples", "speech", "learnt for", "updated"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["name"],
                str(r["samples"]),
                f"{r['speech_s']:.0f} s",
                ", ".join(r["clients"]) or "",
                r["updated_at"][:16].replace("T", " "),
            )
        console.print(table)

    output.emit_list(rows, human)


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="The profile's name.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Delete a voice profile and every sample of it (meetings keep their names).

    Example: qylon speakers remove "Dana Scully" --yes
    """
    voices = _voices()
    profile = voices.get(name)
    output.confirm(
        f"Delete the voice profile of {profile.name} ({profile.samples} sample(s))?",
        yes=yes,
        action="Deleting a voice profile",
    )
    voices.remove(profile.name)
    output.emit(
        {**profile.public(), "deleted": True},
        lambda c: c.print(f"Deleted the voice profile of {profile.name}"),
    )

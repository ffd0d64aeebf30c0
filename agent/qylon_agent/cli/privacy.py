"""`qylon privacy`: encryption at rest on this device (docs/privacy.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer(no_args_is_help=True)


def _settings():
    from qylon_cli import settings

    return settings.load()


def _status_table(c, d: dict) -> None:
    c.print(f"Encryption: {'on' if d['encrypt'] else 'off'}")
    if d["install_key_id"]:
        c.print(
            f"Install key: {d['install_key_id'][:8]} (in {d['key_kept_in']}): "
            f"{d['install_key']}"
            + (f" ({d['install_key_error']})" if d["install_key_error"] else "")
        )
    else:
        c.print("Install key: none yet (made when the first thing is sealed)")
    c.print(f"Store: {d['store']} ({d['store_path']})")
    r = d["recordings"]
    c.print(f"Recordings: {r['sealed']} sealed, {r['plain']} plain; meeting keys: {d['data_keys']}")
    keep = lambda n: f"{n} days" if n else "forever"
    c.print(
        f"Retention: audio {keep(d['keep_audio_days'])}, meetings {keep(d['keep_transcripts_days'])}"
    )
    for w in d["warnings"]:
        c.print(f"[yellow]Warning:[/] {w}")


@app.command()
def status(json: output.JsonOption = False) -> None:
    """What is encrypted on this device, with which key, and what is not.

    Example: qylon privacy status --json
    """
    from ..privacy.seal import status as privacy_status

    data = privacy_status(_settings())
    output.emit(data, lambda c: _status_table(c, data))


def _keys():
    from qylon_cli.errors import NotFound

    from ..crypto.keys import Keys

    found = Keys.load()
    if found is None:
        raise NotFound(
            "This install has no keys yet: nothing has been encrypted.",
            hint="Turn encryption on: qylon config set privacy.encrypt true",
            code="no_keys",
        )
    return found


@app.command("rotate-key")
def rotate_key(json: output.JsonOption = False) -> None:
    """Make a new install key and re-seal every data key with it; the old install key is
    destroyed. The recordings and the store are not rewritten (fast).

    Example: qylon privacy rotate-key --json
    """
    found = _keys()
    old = found.install_key_id
    new = found.rotate()
    data = {"old_install_key_id": old, "install_key_id": new, "data_keys": len(found.names())}
    output.emit(
        data,
        lambda c: c.print(
            f"Install key rotated: {old[:8]} → {new[:8]} ({data['data_keys']} data keys re-sealed)."
        ),
    )


@app.command("export-key")
def export_key(
    out: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write it to this file (owner-only) instead of stdout."
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Print the install key, to keep offline (a password manager, paper): with
    QYLON_HOME/keys.json it opens everything, on this machine or a new one.

    Example: qylon privacy export-key -o ~/qylon-key.txt
    """
    found = _keys()
    text = found.export()
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        data = {"install_key_id": found.install_key_id, "path": str(out)}
        output.emit(
            data, lambda c: c.print(f"Install key {found.install_key_id[:8]} written to {out}.")
        )
        return
    output.emit({"install_key_id": found.install_key_id, "key": text}, lambda c: print(text))


@app.command("import-key")
def import_key(
    source: Annotated[
        str, typer.Argument(help="The file export-key wrote, or - to read it from stdin.")
    ] = "-",
    json: output.JsonOption = False,
) -> None:
    """Take an exported install key back (a new machine with a copy of QYLON_HOME, a lost
    keyring, a forgotten passphrase): it is checked against keys.json, then kept in the
    keyring (or sealed by the passphrase in QYLON_PASSPHRASE).

    Example: qylon privacy import-key ~/qylon-key.txt
    """
    from qylon_cli.errors import InvalidInput

    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text("utf-8")
        except OSError as exc:
            raise InvalidInput(f"{source}: {exc.strerror}.", code="file_not_found") from None
    found = _keys()
    key_id = found.import_key(text)
    data = {"install_key_id": key_id, "source": found.source}
    output.emit(data, lambda c: c.print(f"Install key {key_id[:8]} imported ({found.source})."))


@app.command()
def forget(
    meeting: Annotated[str, typer.Argument(help="Meeting or recording id (or a unique prefix).")],
    local_only: Annotated[
        bool,
        typer.Option("--local-only", help="Do not queue the deletion for the team server."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Erase a meeting from this device for good (crypto-erase): its rows and search
    entries, its voice samples, its recording, and its data key; the store is re-keyed
    and the install key rotated, so no copy of the old files opens with the keys left.
    The deletion is queued for the team server like `meeting delete` (--local-only: not).

    Example: qylon privacy forget 3f2a --yes
    """
    from ..privacy.erase import forget as run_forget

    output.confirm(
        f"Erase meeting {meeting} from this device for good?",
        yes=yes,
        action="Forgetting a meeting",
    )
    done = run_forget(meeting, settings=_settings(), local_only=local_only)
    data = vars(done)
    output.emit(
        data,
        lambda c: c.print(
            f"Forgot {done.meeting_id[:8]} {done.title or ''}: "
            + ("data key destroyed, " if done.key_destroyed else "")
            + ("store re-keyed, install key rotated." if done.store_rekeyed else "removed.")
        ),
    )


@app.command("export-audio")
def export_audio(
    meeting: Annotated[str, typer.Argument(help="Meeting or recording id (or a unique prefix).")],
    out: Annotated[Path, typer.Option("--output", "-o", help="The WAV file to write.")],
    json: output.JsonOption = False,
) -> None:
    """Write a sealed recording out as a plain WAV, to listen to or hand on. The file is
    your copy: it is not encrypted.

    Example: qylon privacy export-audio 3f2a -o kickoff.wav
    """
    from ..privacy.seal import export_audio as run

    data = run(meeting, out, settings=_settings())
    output.emit(data, lambda c: c.print(f"Wrote {data['seconds']:.1f} s of audio to {out}."))


@app.command("seal-existing")
def seal_existing(json: output.JsonOption = False) -> None:
    """Encrypt what was stored before encryption was turned on: the store (re-written as
    SQLCipher) and every plain recording (sealed, then the WAV removed). Stop the agent first.

    Example: qylon config set privacy.encrypt true && qylon privacy seal-existing
    """
    from ..privacy.seal import seal_existing as run

    data = run(_settings())
    output.emit(
        data,
        lambda c: c.print(
            ("Store sealed. " if data["store_sealed"] else "The store was sealed already. ")
            + f"{len(data['recordings_sealed'])} recording(s) sealed."
        ),
    )


def _retention_table(c, d: dict, applied: bool) -> None:
    verb = "Removed" if applied else "Would remove"
    if not d["audio"] and not d["meetings"]:
        c.print("Nothing is past its retention period.")
    for a in d["audio"]:
        c.print(f"{verb} audio {a['id'][:8]} {a['title'] or ''} ({a['age_days']} days old)")
    for m in d["meetings"]:
        c.print(f"{verb} meeting {m['id'][:8]} {m['title'] or ''} ({m['age_days']} days old)")


@app.command()
def retention(
    apply: Annotated[
        bool, typer.Option("--apply/--dry-run", help="Remove now, or (default) only list.")
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Audio older than privacy.keep_audio_days and meetings older than
    privacy.keep_transcripts_days (the agent applies this every hour).

    Example: qylon config set privacy.keep_audio_days 30 && qylon privacy retention --apply
    """
    from ..privacy import retention as ret

    settings = _settings()
    data = ret.apply(settings) if apply else ret.plan(settings)
    data["applied"] = apply
    output.emit(data, lambda c: _retention_table(c, data, apply))

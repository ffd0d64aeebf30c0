"""What is sealed (``status``) and sealing what was stored before encryption was on."""

from __future__ import annotations

import os
import wave
from pathlib import Path

from qylon_cli.errors import QylonError

from ..crypto import keys, stream
from ..recording import files as recording_files
from ..store import database
from .erase import agent_running, refuse_while_agent_runs


def status(settings) -> dict:
    found = keys.Keys.load()
    db_path = database.default_path()
    store_state = (
        "none" if not db_path.exists() else "plain" if database.is_plain(db_path) else "sealed"
    )
    recordings = {"sealed": 0, "plain": 0}
    for rec in recording_files.all_recordings(recording_files.root(settings)):
        if rec.audio.exists():
            recordings["sealed" if rec.meta.get("sealed") else "plain"] += 1
    key_state, key_error = None, None
    if found is not None:
        try:
            found.unlock()
            key_state = "available"
        except QylonError as exc:
            key_state, key_error = "unavailable", exc.message
    encrypt = keys.enabled(settings)
    warnings = []
    if encrypt and (store_state == "plain" or recordings["plain"]):
        warnings.append(
            "Some of what was stored before encryption was on is still plain: "
            "run `qylon privacy seal-existing`."
        )
    if not encrypt and (store_state == "sealed" or recordings["sealed"]):
        warnings.append(
            "Encryption is off: what is sealed stays sealed, but new recordings and a new store are plain."
        )
    if encrypt and settings.get("agent.export_dir"):
        folder = settings.get("agent.export_dir")
        warnings.append(
            f"agent.export_dir ({folder}) receives plain Markdown copies of every meeting: "
            "they are not encrypted by Qylon."
            if settings.get("agent.export_plain", False)
            else f"The auto-export to agent.export_dir ({folder}) is paused while encryption "
            "is on: it would write plain copies. `qylon config set agent.export_plain true` "
            "resumes it, plain."
        )
    return {
        "encrypt": encrypt,
        "key_source": found.source if found else None,
        "key_kept_in": (
            None
            if found is None
            else "the OS keyring"
            if found.source == "keyring"
            else f"{found.path}, sealed by your passphrase"
        ),
        "install_key_id": found.install_key_id if found else None,
        "install_key": key_state,
        "install_key_error": key_error,
        "data_keys": len([n for n in found.names() if n.startswith("meeting:")]) if found else 0,
        "store": store_state,
        "store_path": str(db_path),
        "recordings": recordings,
        "keep_audio_days": int(settings.get("privacy.keep_audio_days", 0) or 0),
        "keep_transcripts_days": int(settings.get("privacy.keep_transcripts_days", 0) or 0),
        "agent_running": agent_running() is not None,
        "warnings": warnings,
    }


def seal_existing(settings) -> dict:
    """Encrypt the plain store (SQLCipher export, then the file is replaced) and every
    plain recording (sealed with its own data key, then the WAV removed)."""
    if not keys.enabled(settings):
        raise QylonError(
            "Encryption is off.",
            hint="Turn it on first: qylon config set privacy.encrypt true",
            code="encryption_off",
        )
    refuse_while_agent_runs("sealing the store")
    found = keys.Keys.load_or_create(settings)
    db_path = database.default_path()
    store_sealed = False
    if database.is_plain(db_path):
        _seal_store(db_path, found)
        store_sealed = True
    sealed = []
    for rec in recording_files.all_recordings(recording_files.root(settings)):
        if rec.meta.get("sealed") or rec.state == "recording" or not rec.audio.exists():
            continue
        sealed.append(_seal_recording(rec, found))
    return {"store_sealed": store_sealed, "recordings_sealed": sealed}


def _seal_store(path: Path, found: keys.Keys) -> None:
    import sqlite3

    import sqlcipher3

    plain = sqlite3.connect(path)
    plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    plain.close()
    key = found.data_key(keys.STORE, create=True)[1]
    temp = path.with_name(path.name + ".sealing")
    temp.unlink(missing_ok=True)
    conn = sqlcipher3.connect(str(path))
    conn.execute(f"ATTACH DATABASE ? AS sealed KEY \"x'{key.hex()}'\"", [str(temp)])
    conn.execute("SELECT sqlcipher_export('sealed')")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA sealed.user_version = {int(version)}")
    conn.execute("DETACH DATABASE sealed")
    conn.close()
    with open(temp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(temp, path)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    database.forget_kind(path)


def _seal_recording(rec: recording_files.Recording, found: keys.Keys) -> str:
    plain_path = rec.audio
    key_id, key = found.data_key(keys.meeting_key_name(rec.id), create=True)
    target = rec.folder / recording_files.SEALED_AUDIO
    target.unlink(missing_ok=True)
    with wave.open(str(plain_path)) as fh:
        writer = stream.SealedWriter(target, fh.getframerate(), fh.getnchannels(), key_id, key)
        while chunk := fh.readframes(fh.getframerate()):
            writer.write(chunk)
        writer.close()
    rec.update(sealed=True)
    if rec.meta.get("meeting_id"):
        store = database.Store()
        try:
            store.db.execute(
                "UPDATE meetings SET audio_path = ? WHERE id = ? AND audio_path = ?",
                [str(target), rec.meta["meeting_id"], str(plain_path)],
            )
            store.db.conn.commit()
        finally:
            store.close()
    plain_path.unlink()
    return rec.id


def export_audio(ref: str, out: Path, *, settings) -> dict:
    """A recording (sealed or not) as a plain WAV at ``out``."""
    from qylon_cli.errors import InvalidInput, NotFound

    rec = recording_files.get(recording_files.root(settings), ref)
    if not rec.audio.exists():
        raise NotFound(
            f"Recording {rec.id[:8]} has no audio any more (retention or forget removed it).",
            code="no_audio",
        )
    if rec.meta.get("sealed"):
        found = keys.Keys.load()
        if found is None:
            raise NotFound("This install has no keys (keys.json is missing).", code="no_keys")
        info, pcm = stream.read_pcm(rec.audio, found.find_key(stream.scan(rec.audio).key_id))
        rate, channels = info.rate, info.channels
    else:
        with wave.open(str(rec.audio)) as fh:
            rate, channels = fh.getframerate(), fh.getnchannels()
            pcm = fh.readframes(fh.getnframes())
    try:
        with wave.open(str(out), "wb") as fh:
            fh.setnchannels(channels)
            fh.setsampwidth(2)
            fh.setframerate(rate)
            fh.writeframes(pcm)
    except OSError as exc:
        raise InvalidInput(f"{out}: {exc.strerror}.", code="cannot_write") from None
    return {
        "id": rec.id,
        "path": str(out),
        "seconds": round(len(pcm) / (2 * channels * rate), 3),
        "rate": rate,
        "channels": channels,
    }

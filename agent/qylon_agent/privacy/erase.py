"""Forget a meeting (crypto-erase) and rotate the install key.

``forget`` removes the meeting from the store (rows, search index, voice samples learnt
from it), destroys its data key (its sealed recording is then noise, in this folder or
in any copy of it), re-encrypts the store under a new data key (so a copy of the store
taken earlier cannot be opened with the key in use now) and rotates the install key (so
a copy of keys.json taken earlier, holding the meeting's data key, cannot be opened with
the install key in use now). Both old keys are destroyed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from qylon_cli import paths
from qylon_cli.errors import QylonError

from ..crypto import container, keys
from ..locks import ProcessLock
from ..recording import files as recording_files
from ..store.database import Store


class AgentRunning(QylonError):
    code = "agent_running"


def agent_running() -> dict | None:
    """The running daemon's lock info (its lock is ``agent/agent.lock``, see daemon.state)."""
    lock = paths.home() / "agent" / "agent.lock"
    return ProcessLock(lock).holder() if lock.exists() else None


def refuse_while_agent_runs(what: str) -> None:
    """The daemon keeps the store open: re-keying it under the daemon would lock it out."""
    info = agent_running()
    if info is not None:
        raise AgentRunning(
            f"The agent (pid {info.get('pid')}) has the store open; {what} needs it closed.",
            hint="Run `qylon agent stop`, then this again, then `qylon agent start`.",
        )


@dataclass
class Forgotten:
    meeting_id: str
    title: str | None
    stored: bool  # it was in the store
    audio_removed: list[str]
    key_destroyed: bool
    voice_samples_removed: int
    store_rekeyed: bool
    install_key_id: str | None
    queued_server_delete: bool


def rekey_store(store: Store, found: keys.Keys) -> None:
    """Re-encrypt every page of the store under a new data key; the old one is destroyed."""
    key_id, key = container.new_key_id(), container.new_key()
    with found.locked():  # kept first as the next key: a crash while re-keying loses nothing
        found.doc["data_keys"][keys.STORE_NEXT] = found.seal_data_key(keys.STORE_NEXT, key_id, key)
        found.save()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.conn.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with found.locked():
        found.doc["data_keys"][keys.STORE] = found.seal_data_key(keys.STORE, key_id, key)
        del found.doc["data_keys"][keys.STORE_NEXT]
        found.save()


def forget(ref: str, *, settings, local_only: bool = False) -> Forgotten:
    refuse_while_agent_runs("forgetting a meeting")
    found = keys.Keys.load()
    store = Store()
    try:
        meeting_id, title, stored = _resolve(store, ref, settings)
        samples = 0
        if stored:
            with store.db.atomic():
                samples = store.db.execute(
                    "DELETE FROM voice_samples WHERE source LIKE ?", [f"meeting:{meeting_id}:%"]
                ).rowcount
                store.delete_meeting(meeting_id)
                # The agent's finished jobs for it name its title and file.
                store.db.execute(
                    "DELETE FROM jobs WHERE status NOT IN ('queued', 'running') "
                    "AND (payload LIKE ? OR result LIKE ?)",
                    [f"%{meeting_id}%", f"%{meeting_id}%"],
                )
                if local_only:
                    store.db.execute("DELETE FROM sync_outbox WHERE meeting_id = ?", [meeting_id])
        rekeyed = False
        if store.encrypted and found is not None:
            rekey_store(store, found)
            rekeyed = True
        elif stored:
            store.db.execute("VACUUM")  # a plain store: at least no deleted rows left in it
    finally:
        store.close()
    removed = []
    base = recording_files.root(settings)
    folder = base / meeting_id
    if folder.is_dir():
        removed.append(str(folder))
        shutil.rmtree(folder)
    destroyed = bool(found and found.drop(keys.meeting_key_name(meeting_id)))
    if found is not None and (destroyed or rekeyed):
        found.rotate()
    return Forgotten(
        meeting_id,
        title,
        stored,
        removed,
        destroyed,
        samples,
        rekeyed,
        found.install_key_id if found else None,
        stored and not local_only,
    )


def _resolve(store: Store, ref: str, settings) -> tuple[str, str | None, bool]:
    """A meeting in the store, or a recording that never became one (id or prefix)."""
    from qylon_cli.errors import NotFound

    try:
        meeting_id = store.resolve_id(ref)
        return meeting_id, store.db["meetings"].get(meeting_id)["title"], True
    except NotFound:
        pass
    try:
        rec = recording_files.get(recording_files.root(settings), ref)
        return rec.id, rec.meta.get("title"), False
    except NotFound:
        found = keys.Keys.load()  # a forget a crash interrupted left only the key: finish it
        if found is not None and found.has(keys.meeting_key_name(ref)):
            return ref, None, False
        raise

"""Opening another Store in a process must not drop the SQLite locks this process's other
connections hold: reading the file's header through a descriptor of its own and closing it
released them (POSIX fcntl locks are per process), which let a second writer in and
corrupted the agent's store under load ("database disk image is malformed")."""

from __future__ import annotations

import subprocess
import sys


def test_a_second_store_in_the_process_keeps_the_first_ones_write_lock(qylon_home):
    from qylon_agent.store.database import Store, default_path

    first = Store()
    first.db.execute("BEGIN IMMEDIATE")  # holds its locks on the file
    first.db.execute("SELECT count(*) FROM meetings").fetchone()
    try:
        Store().close()  # another thread's Store, opened while the write is in progress
        probe = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], timeout=0)\n"
            "c.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
            "try:\n    c.execute('BEGIN EXCLUSIVE'); c.execute('SELECT 1 FROM meetings');"
            " print('got the lock')\n"
            "except sqlite3.OperationalError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe, str(default_path())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == "database is locked"
    finally:
        first.db.execute("ROLLBACK")
        first.close()

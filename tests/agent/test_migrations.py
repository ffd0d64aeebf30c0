"""Every migration applies from an empty database and from the schema before it."""

from __future__ import annotations

import sqlite3

import pytest
from qylon_agent.store.database import Store
from qylon_agent.store.migrations import migrations
from sqlite_utils import Database

NAMES = [m.name for m in migrations._migrations]


def schema(db: Database) -> dict[str, str]:
    return {
        row[0]: row[1]
        for row in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '_sqlite_migrations%' ORDER BY name"
        )
    }


def test_from_empty(tmp_path):
    store = Store(tmp_path / "q.db")
    assert [m.name for m in migrations.applied(store.db)] == NAMES
    assert {"meetings", "segments", "speakers", "action_items", "segments_fts"} <= set(
        store.db.table_names()
    )
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again applies nothing twice.
    Store(tmp_path / "q.db")
    assert [m.name for m in migrations.applied(store.db)] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_from_previous_schema(tmp_path, name):
    full = Database(sqlite3.connect(tmp_path / "full.db"))
    migrations.apply(full)
    stepped = Database(sqlite3.connect(tmp_path / "step.db"))
    migrations.apply(stepped, stop_before=name)
    assert name not in {m.name for m in migrations.applied(stepped)}
    migrations.apply(stepped)
    assert schema(stepped) == schema(full)

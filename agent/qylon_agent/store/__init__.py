"""The local store, where a meeting lands after insights: the SQLite database and its
migrations, corrections a person makes, a meeting's date, and transcript formats (written
by export, read by import)."""

from __future__ import annotations

import sys


def _import_sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils with numpy and pandas hidden, unless a module loaded them already.

    sqlite-utils imports both when they are installed (numpy is, with faster-whisper) only
    to map their scalar types to column types when it infers a table's columns. The store
    declares its columns and never stores numpy or pandas values, and importing numpy cost
    0.12-0.15 s of every `qylon` process that opens the store (`meeting list`, `search`):
    half of the command. Hidden means absent from ``sys.modules`` only while sqlite-utils
    loads; a later ``import numpy`` works as usual."""
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        import sqlite_utils.db  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name) is None:
                del sys.modules[name]


_import_sqlite_utils_without_numpy()

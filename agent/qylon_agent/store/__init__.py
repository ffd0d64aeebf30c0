"""The local store, where a meeting lands after insights: the SQLite database and its
migrations, corrections a person makes, a meeting's date, and transcript formats (written
by export, read by import)."""

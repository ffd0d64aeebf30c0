"""One way to name a stored thing by its id or a unique prefix of it (as git does for
commits): meetings, action items, jobs and recordings all resolve through :func:`resolve`."""

from __future__ import annotations

import re
from collections.abc import Callable

from qylon_cli.errors import InvalidInput, NotFound

# Ids are UUIDs (meetings, jobs, recordings) or hex digests (action items).
_ID = re.compile(r"[0-9a-fA-F-]{4,40}")


def resolve(ref: str, candidates: Callable[[str], list[str]], *, what: str, hint: str) -> str:
    """The one id starting with ``ref``. ``candidates(prefix)`` returns ids starting with the
    lower-cased prefix (two are enough to tell an ambiguous prefix)."""
    if not _ID.fullmatch(ref):
        raise InvalidInput(f"{ref!r} is not {_a(what)} id.", hint=hint)
    found = candidates(ref.lower())
    if not found:
        raise NotFound(f"No {what} with id {ref}.", hint=hint)
    if len(found) > 1:
        raise InvalidInput(
            f"{ref} matches more than one {what}.", hint="Give more characters of the id."
        )
    return found[0]


def in_table(db, table: str) -> Callable[[str], list[str]]:
    """Candidates from a table's ``id`` column (the prefix is hex and dashes, so no LIKE wildcards)."""
    return lambda prefix: [
        r[0]
        for r in db.execute(f"SELECT id FROM [{table}] WHERE id LIKE ? LIMIT 2", [prefix + "%"])
    ]


def _a(what: str) -> str:
    return ("an " if what[0] in "aeiou" else "a ") + what

"""Shell completion of user emails and group names, offline.

The lists come from what the admin commands last saw: `qylon users list` (and `add`,
`update`, `set-role`) remember the emails they print, `qylon groups list` (and `create`,
`delete`) the group names, in small text files in the data folder (``QYLON_HOME``), one
value a line. Completion reads only those files: no network, nothing to fail loudly (a
missing or broken file completes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EMAILS = "user-emails.txt"
GROUPS = "group-names.txt"
MOST = 20_000  # values kept per file


def _file(name: str) -> Path:
    from qylon_cli import paths

    return paths.home() / "completion" / name


def _read(name: str) -> list[str]:
    try:
        return [line for line in _file(name).read_text("utf-8").splitlines() if line]
    except (OSError, UnicodeError):
        return []


def _remember(name: str, values: Iterable[str], *, complete: bool, forget=()) -> None:
    """Add ``values`` to the file (``complete``: they are all there is, replacing it);
    ``forget`` drops values (a deleted group). Never fails the command that calls it."""
    try:
        from qylon_cli import paths

        new = [v for v in values if v and "\n" not in v]
        kept = [] if complete else _read(name)
        gone = set(forget)
        merged = sorted({v for v in [*kept, *new] if v not in gone}, key=str.casefold)[:MOST]
        path = _file(name)
        paths.ensure_home()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{v}\n" for v in merged), "utf-8")
        tmp.replace(path)
    except OSError:
        pass


def remember_emails(emails: Iterable[str], *, complete: bool = False) -> None:
    _remember(EMAILS, (e.lower() for e in emails), complete=complete)


def remember_groups(names: Iterable[str], *, complete: bool = False, forget=()) -> None:
    _remember(GROUPS, names, complete=complete, forget=forget)


def _matching(name: str, incomplete: str) -> list[str]:
    """As the shell matches: case-sensitively (emails are kept lower-cased)."""
    return [v for v in _read(name) if v.startswith(incomplete)][:200]


def complete_email(incomplete: str) -> list[str]:
    """User emails that `qylon users list` last showed (works offline)."""
    try:
        return _matching(EMAILS, incomplete)
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []


def complete_group(incomplete: str) -> list[str]:
    """Group names that `qylon groups list` last showed (works offline)."""
    try:
        return _matching(GROUPS, incomplete)
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []

"""Completion of user emails and group names, offline, from what `qylon users list` and
`qylon groups list` last showed; the times `qylon audit list --since` takes; the stand-ins
for groups and audit when the admin part is not installed.

test_emails_and_group_names_complete_offline runs its commands and completions in-process
(``run_qylon_here``: the same entry point, environment, streams and exit codes, without an
interpreter start per command) but for its last completion, which runs the real subprocess,
as test_groups_and_audit_name_the_admin_part_when_it_is_missing does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ..conftest import complete, run_qylon, run_qylon_here


@pytest.fixture
def backend(team_servers):
    """Completion does not depend on the server's engine: SQLite only."""
    return team_servers.backend("sqlite")


def _complete(words: str, run=run_qylon_here) -> list[str]:
    return complete(words, {"QYLON_SERVER": "http://127.0.0.1:9"}, run)  # nothing there: offline


def test_emails_and_group_names_complete_offline(qylon_here, signed_in):
    qylon = qylon_here  # in-process
    assert _complete("qylon users set-role an") == []
    for email in ("ann@example.com", "andy@example.com", "bob@example.com"):
        assert qylon("users", "add", email, env=signed_in).code == 0
    assert qylon("users", "list", "--paginate", env=signed_in).code == 0
    assert _complete("qylon users set-role an") == ["andy@example.com", "ann@example.com"]
    assert _complete("qylon users update ann") == ["ann@example.com"]
    assert _complete("qylon groups add-member Sales b") == ["bob@example.com"]
    assert qylon("groups", "create", "Sales", env=signed_in).code == 0
    assert qylon("groups", "create", "Support", env=signed_in).code == 0
    assert _complete("qylon groups show S") == ["Sales", "Support"]
    assert qylon("groups", "delete", "Support", "--yes", env=signed_in).code == 0
    assert _complete("qylon groups show S") == ["Sales"]
    assert _complete("qylon groups remove-member Sa", run=run_qylon) == ["Sales"]  # the real one


def test_since_accepts_times_ago_and_iso_times():
    from qylon_admin.cli.audit import since_time

    from qylon_cli.errors import UsageError

    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert since_time("24h", now=now) == (now - timedelta(hours=24)).isoformat()
    assert since_time("2w", now=now) == "2026-11-21T09:00:00+00:00"
    assert since_time("2026-12-01") == "2026-12-01T00:00:00+00:00"
    assert since_time("2026-12-01T09:00+01:00") == "2026-12-01T09:00:00+01:00"
    with pytest.raises(UsageError):
        since_time("yesterday")


def test_groups_and_audit_name_the_admin_part_when_it_is_missing(qylon):
    for command in ("groups", "audit"):
        result = qylon(command, "list", "--json", env={"QYLON_LOAD_PLUGINS": ""})
        assert result.code == 1 and result.json["error"]["code"] == "missing_part"
        assert "qylon[admin]" in result.json["error"]["hint"]

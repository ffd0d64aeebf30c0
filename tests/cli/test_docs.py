"""Every command is documented: help text with an example, and docs/cli.md up to date."""

from __future__ import annotations

import importlib.util

from ..conftest import REPO

spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def test_every_command_has_help_with_an_example():
    _, found = gen.commands()
    assert len(found) > 10
    for path, command in found:
        if not path:
            continue
        assert command.help, f"qylon {' '.join(path)} has no help text"
        assert "Example: qylon" in command.help, (
            f"qylon {' '.join(path)} has no example in its help"
        )


def test_cli_reference_is_current(monkeypatch):
    expected = gen.render()
    current = (REPO / "docs" / "cli.md").read_text()
    assert current == expected, "docs/cli.md is out of date: run `make docs`"

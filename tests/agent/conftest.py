"""Fixtures for the agent's tests."""

from __future__ import annotations

import pytest

from .pulse import server_fixture


@pytest.fixture(scope="session")
def pulse():
    """One private PulseAudio server for the whole session (see pulse.py)."""
    yield from server_fixture()

"""Shared fixtures: every test gets its own QYLON_HOME; helpers run the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QYLON_SHARED", REPO.parent / "shared"))
AUDIO = SHARED / "data" / "audio"
SAMPLES = REPO / "samples"


@pytest.fixture(autouse=True)
def qylon_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "qylon-home"
    monkeypatch.setenv("QYLON_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("QYLON_") and var not in ("QYLON_HOME", "QYLON_SHARED"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


def run_qylon(*args: str, env: dict | None = None, timeout: float = 300, input: str | None = None) -> Result:
    """Run the real `qylon` command in a subprocess."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "qylon_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def qylon():
    return run_qylon


@pytest.fixture(scope="session")
def jfk_wav() -> Path:
    path = AUDIO / "jfk.wav"
    assert path.exists(), f"shared test data missing: {path} (clone shared/ beside the repository)"
    return path

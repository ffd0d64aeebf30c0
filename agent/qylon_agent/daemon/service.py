"""Start the agent at login: a systemd user unit (Linux) or a launchd agent (macOS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from qylon_cli.errors import QylonError
from qylon_cli.settings import shipped_file

UNIT = "qylon-agent.service"
PLIST = "com.qylon.agent.plist"
PASSED_ON = ("QYLON_HOME", "QYLON_SERVER", "PULSE_SERVER", "XDG_RUNTIME_DIR")


def _target() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / PLIST
    if sys.platform.startswith("linux"):
        config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return config / "systemd" / "user" / UNIT
    raise QylonError(
        f"Starting the agent at login is not supported on {sys.platform} yet.",
        hint="Add `qylon agent start` to your startup programs instead.",
        code="unsupported_platform",
    )


def render() -> str:
    env = {k: os.environ[k] for k in PASSED_ON if os.environ.get(k)}
    from .state import agent_paths

    if sys.platform == "darwin":
        pairs = "".join(f"<key>{k}</key><string>{escape(v)}</string>" for k, v in env.items())
        return shipped_file(f"service/{PLIST}").format(
            python=escape(sys.executable), environment=pairs, log=agent_paths().log
        )
    lines = "\n".join(f'Environment="{k}={v}"' for k, v in env.items())
    return shipped_file(f"service/{UNIT}").format(python=sys.executable, environment=lines)


def _manager(*args: str) -> str | None:
    """Run systemctl --user / launchctl; None when it is not there to run."""
    tool = ["launchctl", *args] if sys.platform == "darwin" else ["systemctl", "--user", *args]
    if not shutil.which(tool[0]):
        return None
    done = subprocess.run(tool, capture_output=True, text=True, check=False)
    return "ok" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def install(*, enable: bool = True) -> dict:
    target = _target()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    result = {"path": str(target), "enabled": False, "note": None}
    if enable:
        if sys.platform == "darwin":
            outcome = _manager("load", "-w", str(target))
        else:
            outcome = _manager("daemon-reload") and _manager("enable", "--now", UNIT)
        result["enabled"] = outcome == "ok"
        if outcome != "ok":
            result["note"] = (
                "Written, but not enabled: "
                + (outcome or "no service manager here")
                + (
                    ". Enable it with: systemctl --user enable --now " + UNIT
                    if sys.platform != "darwin"
                    else ""
                )
            )
    return result


def uninstall() -> dict:
    target = _target()
    existed = target.exists()
    if existed:
        if sys.platform == "darwin":
            _manager("unload", "-w", str(target))
        else:
            _manager("disable", "--now", UNIT)
        target.unlink()
        if sys.platform != "darwin":
            _manager("daemon-reload")
    return {"path": str(target), "removed": existed}

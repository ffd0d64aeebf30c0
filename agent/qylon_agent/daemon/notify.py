"""Desktop notifications where the platform has a way to show them; silent otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys


def notify(title: str, message: str) -> bool:
    if sys.platform == "darwin" and shutil.which("osascript"):
        script = f"display notification {message!r} with title {title!r}".replace("'", '"')
        cmd = ["osascript", "-e", script]
    elif shutil.which("notify-send"):
        cmd = ["notify-send", "--app-name=Qylon", title, message]
    else:
        return False
    try:
        return subprocess.run(cmd, capture_output=True, timeout=5, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False

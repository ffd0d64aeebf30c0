"""`python -m qylon_agent.daemon [--foreground]`: run the agent (what `qylon agent start` spawns)."""

from __future__ import annotations

import sys

from qylon_cli import paths
from qylon_cli import settings as settings_mod

from ..crypto import keys
from .process import Agent, AlreadyRunning, auto_record_mode


def export_folder(settings) -> str:
    """``agent.export_dir``; none while encryption is on, unless ``agent.export_plain``
    says that plain copies there are wanted (they are not encrypted: docs/privacy.md)."""
    folder = settings.get("agent.export_dir", "")
    if folder and keys.enabled(settings) and not settings.get("agent.export_plain", False):
        return ""
    return folder


def main() -> None:
    paths.make_private()
    settings = settings_mod.load()
    agent = Agent(
        concurrency=max(1, int(settings.get("agent.concurrency", 1))),
        export_dir=export_folder(settings),
        detect=bool(settings.get("agent.detect_meetings", True)),
        auto_record=auto_record_mode(settings.get("agent.auto_record", "off")),
        sync_interval_s=float(settings.get("agent.sync_interval_s", 300)),
    )
    try:
        agent.run(foreground="--foreground" in sys.argv)
    except AlreadyRunning as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()

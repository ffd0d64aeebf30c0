"""Entry point: build the app, run it, turn typed errors into exit codes."""

from __future__ import annotations

import os
import sys

from .errors import EXIT_FAILURE, QylonError


def main(argv: list[str] | None = None) -> None:
    from . import output, paths
    from .cli.app import build_app
    from .cli.completion import answer_if_asked

    paths.make_private()  # umask 0077; QYLON_HOME and what is in it owner-only

    if argv is not None:
        # Used when called programmatically (tests): reset per-run state.
        output._state.update(json=False, jq=None)
    try:
        try:
            app = build_app()
        except QylonError:  # two plugins claiming one command name: no command ran to read --json
            if "--json" in (sys.argv[1:] if argv is None else argv):
                output._remember_json(True)
            raise
        answer_if_asked(os.environ)
        app(args=argv, prog_name="qylon")
    except QylonError as exc:
        output.error(exc.to_dict())
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("QYLON_DEBUG"):
            raise
        output.error(
            {
                "code": "internal_error",
                "message": f"Unexpected error: {type(exc).__name__}: {exc}",
                "hint": "Run again with QYLON_DEBUG=1 to see the traceback, and report it.",
            }
        )
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()

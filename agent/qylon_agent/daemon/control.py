"""The control API: HTTP/1.1 over a Unix socket only this user can reach.

The socket is created with mode 0600 inside a 0700 folder, and every connection's
peer credentials (SO_PEERCRED) are checked against the daemon's own uid, so another
local user — root included — gets nothing. Replies are ``{"data": ...}`` or
``{"error": {"code", "message", "hint"}}`` with a matching HTTP status.
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import struct
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from qylon_cli.errors import QylonError, http_status


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def verify_request(self, request, client_address) -> bool:
        if hasattr(socket, "SO_PEERCRED"):
            creds = request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            return uid == os.getuid()
        return True


def serve(path: Path, routes: list[tuple[str, str, object]]) -> _Server:
    """Bind the socket and return the server (call ``serve_forever`` in a thread)."""
    compiled = [
        (method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in routes
    ]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self) -> str:
            return "local"

        def log_message(self, *args) -> None:  # the daemon logs requests itself
            pass

        def _dispatch(self, method: str) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            for verb, pattern, handler in compiled:
                match = pattern.match(path)
                if verb == method and match:
                    try:
                        self._reply(
                            200, {"data": handler(body=body, params=params, **match.groupdict())}
                        )
                    except QylonError as exc:
                        self._reply(http_status(exc), {"error": exc.to_dict()})
                    except Exception as exc:  # noqa: BLE001 - report, keep serving
                        self._reply(
                            500,
                            {
                                "error": {
                                    "code": "internal_error",
                                    "message": str(exc),
                                    "hint": None,
                                }
                            },
                        )
                    return
            self._reply(
                404,
                {
                    "error": {
                        "code": "not_found",
                        "message": f"No route {method} {path}",
                        "hint": None,
                    }
                },
            )

        def _reply(self, status: int, document: dict) -> None:
            payload = json.dumps(document, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    if path.exists() or path.is_symlink():
        path.unlink()
    old = os.umask(0o177)
    try:
        server = _Server(str(path), Handler)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server

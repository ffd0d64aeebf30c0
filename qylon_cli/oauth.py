"""What the integrations' sign-ins share: OAuth 2.0 authorization code with PKCE (RFC 7636)
through a loopback redirect (RFC 8252).

The vendor's plugin builds its consent address and exchanges the code for tokens; this
module makes the verifier, listens on the loopback port for the redirect, checks ``state``
and hands back the code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import NotAuthenticated


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """What the loopback redirect brought: the code, and what its exchange needs."""

    code: str
    redirect_uri: str
    verifier: str


def loopback_code(
    vendor: str,
    *,
    port: int,
    consent_url: Callable[[str, str, str], str],
    open_url: Callable[[str], None],
    timeout: float = 300.0,
) -> Grant:
    """Open ``consent_url(redirect_uri, state, challenge)`` and serve
    ``http://localhost:PORT/callback`` until the vendor redirects there with the code."""
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs, urlparse

    got: dict[str, str] = {}
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            got.update(query)
            ok = "code" in query and query.get("state") == state
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(
                f"Qylon is connected to {vendor}. You can close this tab.".encode()
                if ok
                else b"The sign-in did not complete. Go back to the terminal."
            )

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    server.timeout = 1.0
    try:
        redirect_uri = f"http://localhost:{server.server_address[1]}/callback"
        open_url(consent_url(redirect_uri, state, challenge))
        deadline = time.monotonic() + timeout
        while not got and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not got:
        raise NotAuthenticated(f"No answer from {vendor}'s sign-in page in time.")
    if got.get("state") != state:
        raise NotAuthenticated("The sign-in's answer does not match the request (state).")
    if "code" not in got:
        reason = got.get("error_description") or got.get("error")
        raise NotAuthenticated(f"{vendor}'s sign-in was refused: {reason}.")
    return Grant(code=got["code"], redirect_uri=redirect_uri, verifier=verifier)


def browser_opener(vendor: str, browser: bool) -> Callable[[str], None]:
    """``open_url`` for ``loopback_code``: print the consent address (stderr) and, with
    ``browser``, open it in the web browser."""

    def open_url(url: str) -> None:
        import sys

        print(f"Open this address to connect {vendor}:\n  {url}", file=sys.stderr)
        if browser:
            import webbrowser

            webbrowser.open(url)

    return open_url

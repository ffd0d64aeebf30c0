"""A webhook receiver on loopback for the webhook tests: it checks every request with the
standardwebhooks library's own ``Webhook.verify`` and answers from a script."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class Receiver:
    """An endpoint per path: answers from a script (then 200), keeps what it got and
    whether ``Webhook(secret).verify`` accepted it; ``accepted`` deduplicates by
    webhook-id, as the scheme tells receivers to."""

    def __init__(self, port: int = 0):
        self.secrets: dict[str, str] = {}
        self.script: dict[str, list[int]] = {}
        self.got: dict[str, list[dict]] = {}
        self.accepted: dict[str, set] = {}
        self.lock = threading.Lock()
        self.hold: dict[str, threading.Event] = {}  # path: answer 503 once this is set
        self.slow: dict[str, float] = {}  # path: seconds to wait before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, headers = self.path, {k.lower(): v for k, v in self.headers.items()}
                time.sleep(receiver.slow.get(path, 0))
                held = receiver.hold.pop(path, None)
                if held is not None:  # keep the sender waiting (it is killed meanwhile)
                    receiver.got.setdefault(path, []).append(
                        {"headers": headers, "body": body, "verified": None, "status": 503}
                    )
                    held.wait(60)
                    return self._answer(503)
                with receiver.lock:
                    try:
                        Webhook(receiver.secrets[path]).verify(body, headers)
                        verified = True
                    except (WebhookVerificationError, KeyError):
                        verified = False
                    answers = receiver.script.get(path) or []
                    status = answers.pop(0) if answers else 200
                    receiver.got.setdefault(path, []).append(
                        {"headers": headers, "body": body, "verified": verified, "status": status}
                    )
                    if verified and 200 <= status < 300:
                        receiver.accepted.setdefault(path, set()).add(headers["webhook-id"])
                self._answer(status)

            def _answer(self, status: int):
                out = json.dumps({"status": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):  # the sender was killed
                    pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str, n: int, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.got.get(path, [])) < n:
            assert time.monotonic() < deadline, self.got.get(path)
            time.sleep(0.05)
        return self.got[path]

    def close(self):
        self.http.shutdown()
        self.http.server_close()

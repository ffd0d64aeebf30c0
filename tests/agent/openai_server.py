"""A small OpenAI-compatible HTTP server on loopback for tests: POST /v1/chat/completions.

It speaks the documented wire format (chat.completion objects, OpenAI-style error
bodies) and is scripted per test: each request takes the next behaviour from a
queue (or the default), and every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content: str, *, finish_reason: str = "stop", model: str = "test-model") -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def error(message: str, *, code: str | None = None, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class Behaviour:
    """What to answer: an HTTP status and a JSON body, after an optional delay; or a function of the request."""

    def __init__(self, body=None, *, status: int = 200, delay: float = 0.0, fn=None):
        self.body, self.status, self.delay, self.fn = body, status, delay, fn

    def answer(self, request: dict) -> tuple[int, dict]:
        if self.delay:
            time.sleep(self.delay)
        if self.fn:
            return self.fn(request)
        return self.status, self.body


class OpenAIServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.headers: list[dict] = []
        self.queue: list[Behaviour] = []
        self.default: Behaviour | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                server.paths.append(self.path)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    status, payload = 404, error(f"No route {self.path}", type_="not_found")
                else:
                    behaviour = server.queue.pop(0) if server.queue else server.default
                    status, payload = (
                        behaviour.answer(body)
                        if behaviour
                        else (500, error("unscripted", type_="server_error"))
                    )
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )  # shutdown() waits a poll (0.5 s by default)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

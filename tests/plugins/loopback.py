"""What the vendors' fakes share: their ASGI app under uvicorn in a thread, on a free
loopback port (port 0), started on ``with`` and stopped at its end."""

from __future__ import annotations

import threading
import time
from typing import Self


class LoopbackApp:
    """``with Fake() as fake:`` serves the app at ``fake.url`` until the block ends."""

    def __init__(self, app, *, log_level: str = "warning") -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)

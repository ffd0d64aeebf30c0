"""What the vendors' fakes share: their ASGI app under uvicorn in a thread, on a free
loopback port (port 0), started on ``with`` and stopped at its end."""

from __future__ import annotations

import threading
import time
from typing import Self


class LoopbackApp:
    """``with Fake() as fake:`` serves the app at ``fake.url`` until the block ends."""

    def __init__(self, app, *, log_level: str = "warning", tls=None) -> None:
        """``tls``: a ``trustme`` CA, for a vendor whose client insists on https: the app is
        served with a certificate it issued for 127.0.0.1 (trust ``tls.cert_pem``)."""
        import uvicorn

        extra = {}
        if tls is not None:
            import ssl

            def context(_config, _default) -> ssl.SSLContext:
                made = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                tls.issue_cert("127.0.0.1", "localhost").configure_cert(made)
                return made

            extra = {"ssl_context_factory": context}
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level=log_level, lifespan="off", **extra
        )
        self.scheme = "https" if tls is not None else "http"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"{self.scheme}://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def load_plugin(name: str, monkeypatch, tmp_path) -> None:
    """The plugin ``plugins/qylon-NAME`` found through its entry point: installed (make
    install), else through a dist-info in ``tmp_path``, as tests/plugins/sample is."""
    from importlib import metadata
    from pathlib import Path

    if any(ep.name == name for ep in metadata.entry_points(group="qylon")):
        return
    info = tmp_path / f"qylon_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: qylon-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[qylon]\n{name} = qylon_{name}\n")
    monkeypatch.syspath_prepend(
        str(Path(__file__).resolve().parents[2] / "plugins" / f"qylon-{name}")
    )
    monkeypatch.syspath_prepend(str(tmp_path))

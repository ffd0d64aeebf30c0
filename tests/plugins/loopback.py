"""What the vendors' fakes share: their ASGI app under uvicorn in a thread, on a free
loopback port (port 0), started on ``with`` and stopped at its end; and a download answered
as the vendors answer one (``ranged``)."""

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


class Invalid(ValueError):
    """A value in a request that the vendor cannot read (a paging cursor, a number, a
    time): each fake answers it with its vendor's 400."""


def number(text, default: int) -> int:
    """A whole number from a query value or a paging cursor (``default`` when absent)."""
    if text is None or text == "":
        return default
    if not (str(text).isascii() and str(text).isdigit()):
        raise Invalid(f"Invalid value: {text!r}")
    return int(text)


def moment(text: str):
    """A time from a query value (ISO 8601)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"Invalid time: {text!r}") from None


def ranged(request, item: str, body: bytes, media: str, state):
    """A download as the vendors serve one: ``Range`` answered with 206 and
    ``Content-Range``; ``state.cut[item]`` (bytes) breaks this download off there by closing
    the connection; each download is noted in ``state.downloads``."""
    import asyncio

    from fastapi.responses import Response, StreamingResponse

    wanted = request.headers.get("range")
    start, status, headers = 0, 200, {}
    if wanted and wanted.startswith("bytes="):
        start = int(wanted[6:].split("-")[0] or 0)
        if start >= len(body):
            return Response(status_code=416, headers={"Content-Range": f"bytes */{len(body)}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
    rest = body[start:]
    cut = state.cut.pop(item, None)
    state.downloads.append({"item": item, "range": wanted, "status": status})
    headers.update({"Content-Length": str(len(rest)), "Accept-Ranges": "bytes"})

    async def chunks():
        sent, step = 0, 4096
        for at in range(0, len(rest), step):
            piece = rest[at : at + step]
            if cut is not None and sent + len(piece) > cut:
                yield piece[: cut - sent]
                await asyncio.sleep(0.05)
                raise ConnectionResetError("the fake cut the download")
            sent += len(piece)
            yield piece

    return StreamingResponse(chunks(), status_code=status, headers=headers, media_type=media)


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


def drop_action_item(meeting_id: str, item_id: str) -> None:
    """Delete one action item of a stored meeting, as editing it in Qylon would."""
    from qylon_agent.store.database import Store

    store = Store()
    try:
        meeting = store.get_meeting(meeting_id)
        kept = [a for a in meeting.action_items if a.id != item_id]
        store.save_meeting(meeting.model_copy(update={"action_items": kept}))
    finally:
        store.close()

"""Downloads that survive being cut off: a file arrives in ``NAME.part`` beside its
destination, and the next run continues it with a ``Range`` request (starting over when
the server answers with the whole file). Used by the video imports and `qylon models
download`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import Unavailable


def resume(
    get: Callable[[dict[str, str]], Any],
    dest: Path,
    *,
    size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    again: str = "Run the same command again: it goes on from where it stopped.",
) -> Path:
    """``get(headers)`` (a streaming httpx2 response, its status already checked) into
    ``dest``. The size is checked before ``.part`` is renamed to ``dest``; ``again`` is the
    hint when the transfer breaks off."""
    import httpx2

    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    answer = get({"Range": f"bytes={have}-"} if have else {})
    try:
        if answer.status_code != 206:
            have = 0  # the whole file came: start over
        total = size or (have + int(answer.headers.get("Content-Length") or 0)) or 0
        with part.open("ab" if have else "wb") as out:
            done = have
            try:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
            except httpx2.TransportError as exc:
                raise Unavailable(
                    f"The download of {dest.name} broke off at {done} of {total} bytes: {exc}.",
                    hint=again,
                    code="download_interrupted",
                ) from None
    finally:
        answer.close()
    got = part.stat().st_size
    if total and got != total:
        part.unlink()
        raise Unavailable(
            f"The download of {dest.name} has {got} bytes, not {total}; it was discarded.",
            hint=again,
            code="download_size_mismatch",
        )
    part.replace(dest)
    return dest

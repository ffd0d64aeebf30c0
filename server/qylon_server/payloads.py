"""Stored JSON payloads carry a version, and are upcast when read.

Three JSON columns hold documents that later code (events, exports) will copy:
``meetings.segments``, ``users.scim`` (a SCIM user's extras) and
``idempotency_keys.response`` (a stored bulk answer). Each is written as an envelope
``{"v": N, "payload": ...}`` by ``stored(kind, payload)`` and read through
``read_payload(kind, raw)``, which upcasts step by step to the current version.

Version 1 is what was stored before envelopes existed: the bare payload (a list of
segments, a SCIM document, a bulk answer). Its upcaster only unwraps it. To change a
payload's shape: bump ``CURRENT[kind]`` and add ``UPCASTERS[(kind, old)]``, a function
from the old payload to the next version's; old rows are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CURRENT: dict[str, int] = {"meeting_segments": 2, "user_scim": 2, "idempotency_response": 2}

# (kind, version) -> a function from that version's payload to the next version's
UPCASTERS: dict[tuple[str, int], Callable[[Any], Any]] = {
    ("meeting_segments", 1): lambda segments: segments,
    ("user_scim", 1): lambda document: document,
    ("idempotency_response", 1): lambda answer: answer,
}

ENVELOPE = frozenset({"v", "payload"})


def stored(kind: str, payload: Any) -> dict[str, Any]:
    """The envelope to store for ``payload`` at the current version of ``kind``."""
    return {"v": CURRENT[kind], "payload": payload}


def version_of(raw: Any) -> int:
    if isinstance(raw, dict) and set(raw) == ENVELOPE and isinstance(raw["v"], int):
        return raw["v"]
    return 1


def read_payload(kind: str, raw: Any) -> Any:
    """The payload of a stored value (None stays None), upcast to the current version."""
    if raw is None:
        return None
    version = version_of(raw)
    payload = raw["payload"] if version > 1 else raw
    if version > CURRENT[kind]:
        raise ValueError(
            f"{kind} payload version {version} is newer than this server ({CURRENT[kind]})"
        )
    while version < CURRENT[kind]:
        payload = UPCASTERS[(kind, version)](payload)
        version += 1
    return payload

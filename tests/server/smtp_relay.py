"""A real SMTP server for the mail tests: aiosmtpd on loopback, keeping what it accepts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from .harness import free_port


class Relay:
    """Keeps every message it accepts (parsed with the modern email policy).

    RCPT to a ``bounce`` address is refused with a 550; ``refuse`` answers 451 to that many
    messages to ``refuse_to`` (anyone when None) first; ``on_data`` runs when a message
    arrives, before the answer. ``start`` serves it on a free loopback port at ``url``.
    """

    def __init__(
        self, bounce: Iterable[str] = (), refuse: int = 0, on_data: Callable | None = None
    ):
        self.messages: list = []
        self.seen: list[str] = []  # Message-IDs of every DATA, accepted or not
        self.bounce = set(bounce)
        self.refuse, self.on_data = refuse, on_data
        self.refuse_to: str | None = None
        self.url = ""
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> Relay:
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self._controller.start()
        self.url = f"smtp://127.0.0.1:{self._controller.port}"
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.bounce:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.seen.append(msg["Message-ID"])
            if self.refuse > 0 and self.refuse_to in (None, msg["To"]):
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            self.messages.append(msg)
        if self.on_data is not None:
            self.on_data(msg)
        return "250 OK"

    def of(self, *run_ids: str) -> list:
        """The accepted messages of these workflow runs (Message-IDs are <run.step@...>)."""
        return [m for m in self.messages if _run_of(m["Message-ID"]) in run_ids]

    def seen_of(self, *run_ids: str) -> list[str]:
        return [i for i in self.seen if _run_of(i) in run_ids]


def _run_of(message_id: str | None) -> str:
    return (message_id or "").strip().lstrip("<").split(".", 1)[0]  # long ids are folded


@contextmanager
def serving(relay: Relay | None = None) -> Iterator[Relay]:
    """Serve ``relay`` (a new one by default) while in the block."""
    relay = (relay if relay is not None else Relay()).start()
    try:
        yield relay
    finally:
        relay.stop()

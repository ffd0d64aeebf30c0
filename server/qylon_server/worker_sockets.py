"""``--workers N``: the supervisor accepts each connection and hands it to the worker
process that holds the fewest.

uvicorn's ``--workers N`` shares one listening socket between its processes, and a process
that wakes for it accepts every connection waiting: 32 keep-alive connections opened at
once went 28/4 and 30/2 between two workers. A listening socket per worker
(``SO_REUSEPORT``) spreads them by a hash of their addresses, like coin tosses: 14/18 of
32, and a load balancer's 4 long-lived connections 3/1 half the time and 4/0 one time in
eight, one worker idle.

Here (Linux) the supervisor process, uvicorn's own, listens alone. A thread of it
(``Dispatcher``) accepts each connection and passes the socket (``SCM_RIGHTS``, over a
``SOCK_SEQPACKET`` socket pair per worker) to the ready worker with the fewest open
connections, ties in turn; the worker (``HandoffServer``, uvicorn's ``Server``) serves it
with ``loop.connect_accepted_socket``, TLS included, and tells the supervisor when a
connection closes. A request costs nothing more; a new connection costs the supervisor
an accept and a send (docs/benchmarks.md: about 1,900 new connections a second served on
two cores, against 2,250 with a socket per worker).

One byte per message, worker to supervisor: ``r`` ready (after the app's start-up), ``-``
a connection closed, ``q`` leaving (answered ``k`` once no more will come; connections
that arrived meanwhile go back, ``b`` with their sockets, to be handed to another), and
the end of the socket pair when the worker dies. Supervisor to worker: ``f`` with a
socket. A connection waits in the supervisor while no worker is ready (start-up,
restarts), as it would in the kernel's backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import queue
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass
from unittest import mock

from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import Server
from uvicorn.supervisors import multiprocess

AVAILABLE = sys.platform.startswith("linux")

log = logging.getLogger("uvicorn.error")

_MAX_FDS = 64  # sockets read at once from one message batch
_MAX_WAITING = 1024  # accepted connections held while no worker takes them


@dataclass
class _Worker:
    channel: socket.socket
    ready: bool = False
    connections: int = 0
    last_given: int = 0


class Dispatcher:
    """The supervisor's accept loop, in a thread: each accepted connection to the ready
    worker with the fewest open connections."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.workers: dict[socket.socket, _Worker] = {}
        self.waiting: collections.deque[socket.socket] = collections.deque()
        self._given = 0
        self._listening = False
        self._added: queue.SimpleQueue[_Worker] = queue.SimpleQueue()  # from other threads
        self._wake, self._woken = socket.socketpair()
        self._woken.setblocking(False)
        self.selector.register(self._woken, selectors.EVENT_READ)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="qylon-accept", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake.send(b"x")
        self._thread.join(5)

    def new_channel(self) -> socket.socket:
        """A socket pair for a new worker: returns the worker's end, for its process."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine.setblocking(False)
        self._added.put(_Worker(mine))
        self._wake.send(b"x")
        return theirs

    # the thread

    def _run(self) -> None:
        try:
            while not self._stop:
                try:
                    self._turn()
                except Exception:  # the server must not stop accepting: log, go on
                    log.exception("handing out connections")
                    time.sleep(0.1)
        finally:
            for sock in self.waiting:
                sock.close()
            for worker in self.workers.values():
                worker.channel.close()
            self.selector.close()

    def _turn(self) -> None:
        # a short wait while connections wait for a worker whose queue was full
        for key, _ in self.selector.select(0.05 if self.waiting else None):
            if key.fileobj is self._woken:
                self._take_added()
            elif key.fileobj is self.listener:
                self._accept()
            else:
                self._hear(key.fileobj)
        self._give()

    def _take_added(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._woken.recv(256):
                pass
        while not self._added.empty():
            worker = self._added.get()
            self.workers[worker.channel] = worker
            self.selector.register(worker.channel, selectors.EVENT_READ)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: give the process a moment
                log.warning("accept failed: %s", exc)
                time.sleep(0.1)
                return
            self.waiting.append(sock)

    def _hear(self, channel: socket.socket) -> None:
        """What a worker said since the last time (one message a receive)."""
        worker = self.workers[channel]
        for _ in range(256):
            try:
                data, fds, _, _ = socket.recv_fds(channel, 256, _MAX_FDS)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:  # the worker is gone; its connections went with it
                self.selector.unregister(channel)
                channel.close()
                del self.workers[channel]
                return
            self.waiting.extendleft(socket.socket(fileno=fd) for fd in reversed(fds))
            worker.connections -= data.count(b"-")
            if b"r" in data:
                worker.ready = True
            if b"q" in data:
                worker.ready = False
                with contextlib.suppress(OSError):
                    channel.send(b"k")

    def _give(self) -> None:
        full: set[int] = set()  # workers whose queue is full, until the next turn
        while self.waiting:
            ready = [w for w in self.workers.values() if w.ready and id(w) not in full]
            if not ready:
                break
            worker = min(ready, key=lambda w: (w.connections, w.last_given))
            sock = self.waiting[0]
            try:
                socket.send_fds(worker.channel, [b"f"], [sock.fileno()])
            except BlockingIOError:  # not reading for now (busy): the others, or later
                full.add(id(worker))
                continue
            except OSError:
                worker.ready = False  # dying: its end of the pair closes next
                continue
            self.waiting.popleft()
            sock.close()
            worker.connections += 1
            self._given += 1
            worker.last_given = self._given
        # accept while a worker is ready and the waiting are few (else the kernel's
        # backlog holds the next ones)
        listen = len(self.waiting) < _MAX_WAITING and any(w.ready for w in self.workers.values())
        if listen != self._listening:
            if listen:
                self.selector.register(self.listener, selectors.EVENT_READ)
            else:
                self.selector.unregister(self.listener)
            self._listening = listen


class HandoffServer(Server):
    """uvicorn's server in a worker: serves the connections its supervisor hands it over
    ``channel`` (``sockets[0]``) instead of listening."""

    async def startup(self, sockets=None) -> None:
        (self.channel,) = sockets
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        self.servers = []
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._receive)
        self._tell(b"r")
        self.started = True

    def _protocol(self):
        protocol = self.config.http_protocol_class(
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        lost = protocol.connection_lost

        def connection_lost(exc):
            try:
                lost(exc)
            finally:
                self._tell(b"-")

        protocol.connection_lost = connection_lost
        return protocol

    def _tell(self, what: bytes) -> None:
        with contextlib.suppress(OSError):
            self.channel.send(what)

    def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, 256, _MAX_FDS)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:  # the supervisor is gone
            loop.remove_reader(self.channel.fileno())
            self.should_exit = True
            return
        for fd in fds:
            task = loop.create_task(self._serve_one(socket.socket(fileno=fd)))
            self.server_state.tasks.add(task)
            task.add_done_callback(self.server_state.tasks.discard)

    async def _serve_one(self, sock: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self._protocol, sock, ssl=self.config.ssl
            )
        except OSError as exc:  # gone before it was served (TLS errors included)
            log.debug("connection dropped before serving: %s", exc)
            sock.close()
            self._tell(b"-")

    async def shutdown(self, sockets=None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self._leave()
        await super().shutdown(sockets=None)

    def _leave(self) -> None:
        """Tell the supervisor, and give back what it sent before it heard."""
        channel = self.channel
        channel.settimeout(2)
        try:
            channel.send(b"q")
            while True:
                data, fds, _, _ = socket.recv_fds(channel, 256, _MAX_FDS)
                if fds:
                    socket.send_fds(channel, [b"b"], fds)
                    for fd in fds:
                        os.close(fd)
                if not data or b"k" in data:
                    break
        except OSError:
            pass
        channel.close()


_dispatcher: Dispatcher | None = None  # the supervisor's, while ``serve`` runs


class HandoffProcess(multiprocess.Process):
    """uvicorn's worker process, given a socket pair of the dispatcher's and run with
    ``HandoffServer``."""

    def __init__(self, config, sockets):
        self._child_end = _dispatcher.new_channel()
        super().__init__(config, [self._child_end])

    def __getstate__(self):  # what the new process unpickles (spawn)
        return {k: v for k, v in self.__dict__.items() if k != "_child_end"}

    def start(self) -> None:
        try:
            super().start()
        finally:
            self._child_end.close()  # the worker has its copy; its death ends the pair

    @property
    def server(self) -> HandoffServer:
        if self._server is None:
            self._server = HandoffServer(config=self.config)
        return self._server


def serve(config) -> None:
    """uvicorn's several-worker server (``uvicorn.run`` with ``workers`` above 1), with
    this module's hand-off in place of the shared listening socket."""
    global _dispatcher
    listener = config.bind_socket()  # binds, logs the address; fails early when taken
    listener.listen(config.backlog)
    _dispatcher = Dispatcher(listener)
    _dispatcher.start()
    try:
        # uvicorn's supervisor (restarts, signals, health checks) builds its workers from
        # this module-level name
        with mock.patch.object(multiprocess, "Process", HandoffProcess):
            multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        _dispatcher.stop()
        _dispatcher = None
        listener.close()

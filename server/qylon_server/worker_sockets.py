"""Each server process its own listening socket, so that the kernel spreads connections.

uvicorn's ``--workers N`` shares one listening socket between its processes, and a process
that wakes for it accepts every connection waiting. Clients that open their keep-alive
connections at once (an agent's sync, a load balancer, ``benchmarks/api.py``) then land
mostly on one process: 32 connections were split 28/4 and 30/2 between two workers, so
one process (one GIL) served most requests while the other idled, and its queue made the
latency tail.

On Linux each worker here binds the same address with a socket of its own and
``SO_REUSEPORT``, and the kernel gives each new connection to one of them by a hash of its
addresses. uvicorn's supervisor is used as it is: the socket it hands each worker is an
``OwnSocket``, which the worker's unpickling (multiprocessing's spawn) turns into that
worker's bound socket. The supervisor's own socket on the address is only bound, never
listening: it holds the address and fails early when it is taken, and receives nothing.
Only processes of the same user can join the address (the kernel's rule).
"""

from __future__ import annotations

import socket
import sys

AVAILABLE = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bound(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other sockets of this user may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class OwnSocket:
    """What uvicorn's supervisor hands a worker as its listening socket: in the worker,
    a new socket of its own on ``host:port`` (``bound``)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def __reduce__(self):
        return bound, (self.host, self.port)


def serve(config) -> None:
    """uvicorn's several-worker server (``uvicorn.run`` with ``workers`` above 1), each
    worker on a socket of its own."""
    from uvicorn.supervisors import Multiprocess

    held = bound(config.host, config.port)
    try:
        port = held.getsockname()[1]
        Multiprocess(config, sockets=[OwnSocket(config.host, port)]).run()
    finally:
        held.close()

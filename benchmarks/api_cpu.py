"""CPU per authenticated request of the team server, in one process, for comparing changes.

    .venv/bin/python benchmarks/api_cpu.py [--backends sqlite,postgres] [--requests 1000] [--rounds 5]
    PYTHONPATH=../base/server .venv/bin/python benchmarks/api_cpu.py   # another checkout's server

``benchmarks/api.py`` measures what users see (req/s and p99 over HTTP, server and load
generator sharing the cores), and moves by tens of percent from one run to the next on a
shared machine. This one calls the app (ASGI) directly, 8 requests at a time, on the same
database set-up (a throw-away PostgreSQL database and role; 200 clients), and prints the
CPU time the process spent per ``GET /v1/clients?limit=50``, best of --rounds, and how much
of it the request thread spent in the route's transaction (authentication, the page,
commit; the rest is the event loop, FastAPI and the middleware). Alternate it between two
checkouts to see a change of a few percent. ``--profile FILE`` writes cProfile statistics
(CPU time) of the request thread and of the event loop, FILE.thread and FILE.loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from api import database, initialised


def measure(kind: str, requests: int, rounds: int, profile: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-"))
    with database(kind, home) as (app_url, admin_url):
        env, token = initialised(home, app_url, admin_url)
        os.environ.update(env)
        from qylon_server import one_trip
        from qylon_server.app import create_app
        from qylon_server.config import ServerSettings

        app = create_app(ServerSettings())  # this backend's environment (not the cached one)
        in_route = [0.0]
        authorised = one_trip._authorised

        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return authorised(*args, **kwargs)
            finally:
                in_route[0] += time.thread_time() - started

        one_trip._authorised = timed
        gc.collect()
        gc.freeze()  # as served_app does
        try:
            asyncio.run(_drive(app, kind, token, requests, rounds, in_route, profile))
        finally:
            one_trip._authorised = authorised
            app.state.db.dispose()


async def _drive(app, kind, token, requests, rounds, in_route, profile) -> None:
    transport = httpx2.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        for i in range(200):
            answer = await c.post("/v1/clients", json={"name": f"Client {i:03d}", "tags": ["b"]})
            answer.raise_for_status()
    raw = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"t")]

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/clients",
            "root_path": "",
            "raw_path": b"/v1/clients",
            "query_string": b"limit=50",
            "headers": raw,
            "client": ("127.0.0.1", 5000),
            "server": ("t", 80),
        }
        sent = []

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"GET /v1/clients answered {sent[0]['status']}")

    async def eight_at_a_time() -> None:
        async def lane() -> None:
            for _ in range(requests // 8):
                await one()

        await asyncio.gather(*(lane() for _ in range(8)))

    await eight_at_a_time()  # warm-up
    best = None
    for _ in range(rounds):
        in_route[0], cpu, wall = 0.0, time.process_time(), time.perf_counter()
        await eight_at_a_time()
        done = requests // 8 * 8
        row = (
            (time.process_time() - cpu) * 1000 / done,
            in_route[0] * 1000 / done,
            (time.perf_counter() - wall) * 1000 / done,
        )
        best = row if best is None or row[0] < best[0] else best
    print(f"{kind:9s} {best[0]:8.3f} {best[1]:8.3f} {best[2]:8.3f}")
    if profile:
        pool = app.state.one_trip_pool
        loop_profile = cProfile.Profile(time.thread_time)
        thread_profile = cProfile.Profile(time.thread_time)
        pool.submit(thread_profile.enable).result()
        loop_profile.enable()
        await eight_at_a_time()
        loop_profile.disable()
        pool.submit(thread_profile.disable).result()
        loop_profile.dump_stats(f"{profile}.loop")
        thread_profile.dump_stats(f"{profile}.thread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=1000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", metavar="FILE", help="cProfile statistics (CPU time)")
    args = parser.parse_args()
    if args.profile:  # one request thread: its profile then holds every request's route
        os.environ.setdefault("QYLON_REQUEST_THREADS", "1")
    print("GET /v1/clients?limit=50, 8 at a time in one process; best of", args.rounds, "rounds")
    print(f"{'backend':9s} {'CPU ms':>8s} {'route ms':>8s} {'wall ms':>8s}  (per request)")
    for kind in args.backends.split(","):
        measure(kind.strip(), args.requests, args.rounds, args.profile and f"{args.profile}.{kind}")


if __name__ == "__main__":
    main()

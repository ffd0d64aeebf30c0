"""Onboarding on the team server: starting it for many people, and the email step's throughput.

    .venv/bin/python benchmarks/onboarding.py [--people 10000] [--emails 2000] [--backends sqlite,postgres]

For each backend, on a fresh database (SQLite file; PostgreSQL: a throw-away database and
a non-superuser role, dropped afterwards), with a real SMTP server on loopback (aiosmtpd,
accepting everything) as the organisation's relay:

- ``--people`` people are created through ``POST /v1/users/bulk`` (1,000 a request);
- starting, on a server that only queues runs (``--workers 2``): half the people one
  ``POST /v1/onboarding`` each from 16 connections, the other half through
  ``POST /v1/onboarding/batch`` (500 a request, 4 connections: what
  ``qylon users import --onboard`` does): onboardings started per second (each: the person
  checked for suppression, the sequence's workflow run enqueued and its
  ``onboarding.started`` event, committed);
- the email step: the server is started again with ``--workers 1`` (one process that
  serves and runs workflows, with all those onboardings queued) and timed from its /ready
  until the relay has received ``--emails`` welcome emails. Each run renders the template (Jinja2 and Markdown),
  sends it with its Message-ID and records the step, then parks in the sequence's
  two-business-day wait: emails per second, end to end;
- beside it, the alternative a user would write by hand: the same number of messages sent
  to the same relay with ``smtplib`` over one connection (no rendering, no records): the
  relay's ceiling on this machine.

The load generator and the relay run on the same machine as the server, so on a small
machine they compete with it for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import threading
import time
from email.message import EmailMessage

import httpx2
from aiosmtpd.controller import Controller
from api import database, free_port  # the API benchmark's throw-away databases
from workflows import Server  # the workflow benchmark's server process

SEQUENCE = """
name: bench-welcome
version: 1
steps:
  - name: welcome
    template: welcome
  - name: follow_up
    template: welcome
    delay: 2
"""
TEMPLATE = """---
subject: Welcome to the firm, {{ person.first_name }}
---
Hello {{ person.first_name }},

Your first week: read the **data protection policy** and finish the security training.
"""


class Counting:
    """An SMTP server's handler that only counts the messages it accepts."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"


def relay() -> tuple[Controller, Counting]:
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


async def start_all(url: str, token: str, emails: list[str]) -> float:
    """``POST /v1/onboarding`` for each email from 16 connections; the seconds it took."""
    limits = httpx2.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=120
    ) as client:
        queue = list(emails)
        began = time.perf_counter()

        async def one() -> None:
            while queue:
                email = queue.pop()
                r = await client.post(
                    "/v1/onboarding", json={"email": email, "sequence": "bench-welcome"}
                )
                if r.status_code != 202:
                    raise RuntimeError(f"{email}: {r.status_code} {r.text}")

        await asyncio.gather(*(one() for _ in range(16)))
        return time.perf_counter() - began


async def start_batches(url: str, token: str, emails: list[str]) -> float:
    """``POST /v1/onboarding/batch`` of 500 from 4 connections; the seconds it took."""
    limits = httpx2.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=600
    ) as client:
        queue = [emails[i : i + 500] for i in range(0, len(emails), 500)]
        began = time.perf_counter()

        async def one() -> None:
            while queue:
                items = [{"user": e, "sequence": "bench-welcome"} for e in queue.pop()]
                r = await client.post("/v1/onboarding/batch", json={"items": items})
                if r.status_code != 200 or r.json().get("errors"):
                    raise RuntimeError(f"batch: {r.status_code} {r.text[:500]}")

        await asyncio.gather(*(one() for _ in range(4)))
        return time.perf_counter() - began


def create_people(c: httpx2.Client, count: int) -> list[str]:
    emails = [f"person{n:05d}@firm.example" for n in range(count)]
    for i in range(0, count, 1000):
        items = [
            {"action": "create", "email": e, "fields": {"given_name": f"P{n}"}}
            for n, e in enumerate(emails[i : i + 1000], start=i)
        ]
        done = c.post(
            "/v1/users/bulk",
            json={"items": items},
            headers={"Idempotency-Key": f"bench-people-{i}"},
        )
        if done.status_code != 200:
            raise RuntimeError(done.text)
    return emails


def wait_for_mail(handler: Counting, total: int, timeout: float = 1800) -> float:
    deadline = time.monotonic() + timeout
    while handler.count < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {handler.count} of {total} emails arrived")
        time.sleep(0.05)
    return time.perf_counter()


def smtplib_ceiling(port: int, handler: Counting, count: int) -> float:
    """Messages per second that plain smtplib sends to the relay over one connection."""
    before = handler.count
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            msg = EmailMessage()
            msg["From"], msg["To"] = "hello@firm.example", f"person{n:05d}@firm.example"
            msg["Subject"] = "Welcome"
            msg.set_content("Hello.\n")
            smtp.send_message(msg)
    assert handler.count - before == count
    return count / (time.perf_counter() - began)


def run_backend(kind: str, people: int, emails_wanted: int) -> dict:
    server = Server(kind)
    controller, handler = relay()
    out: dict = {}
    with database(kind, server.home) as (app_url, admin_url):
        token = server.setup(app_url, admin_url)
        try:
            server.start(workers=2)  # queues runs, runs none
            headers = {"Authorization": f"Bearer {token}"}
            with httpx2.Client(base_url=server.url, headers=headers, timeout=300) as c:
                c.put(
                    "/v1/onboarding/mail-settings",
                    json={
                        "smtp_url": f"smtp://127.0.0.1:{controller.port}",
                        "mail_from": "hello@firm.example",
                        "time_zone": "Europe/Paris",
                    },
                ).raise_for_status()
                made = c.post(
                    "/v1/onboarding/sequences",
                    json={"text": SEQUENCE, "templates": {"welcome": TEMPLATE}},
                )
                if made.status_code != 201:
                    raise RuntimeError(made.text)
                emails = create_people(c, people)
            half = len(emails) // 2
            out["single_per_s"] = half / asyncio.run(start_all(server.url, token, emails[:half]))
            rest = emails[half:]
            out["batch_per_s"] = len(rest) / asyncio.run(start_batches(server.url, token, rest))
            server.stop()
            began = server.start(workers=1)
            out["mail_s"] = wait_for_mail(handler, emails_wanted) - began
            server.kill()  # the rest would only take longer
            out["smtplib_per_s"] = smtplib_ceiling(controller.port, handler, emails_wanted)
        finally:
            server.stop()
            controller.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--emails", type=int, default=2000, help="time this many emails")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    args.emails = min(args.emails, args.people)
    print(
        f"{args.people} people onboarded; each run sends one email, then parks; "
        f"emails/s over the first {args.emails}"
    )
    print(
        f"{'backend':<10} {'started/s one by one':>21} {'in batches':>11} {'emails/s':>9} "
        f"{'first emails s':>15} {'smtplib alone/s':>16}"
    )
    for kind in args.backends.split(","):
        r = run_backend(kind, args.people, args.emails)
        print(
            f"{kind:<10} {r['single_per_s']:>21.0f} {r['batch_per_s']:>11.0f} "
            f"{args.emails / r['mail_s']:>9.1f} "
            f"{r['mail_s']:>15.1f} {r['smtplib_per_s']:>16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""What the event store's listeners read is kept per process (events/listener_config.py):
a change made in one process, or by plain SQL, applies at the next request in another,
and what a transaction read of its own change is forgotten when it rolls back."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager

import pytest
from qylon_server.db import Database, set_org
from qylon_server.models import WebhookSubscription
from qylon_server.workflows import webhooks
from sqlalchemy import text

from .harness import (
    PEPPER,
    Api,
    free_port,
    new_org,
    postgres_backend,
    running,
    sqlite_backend,
    wait_healthy,
)
from .test_permissions import meeting_body

pytestmark = pytest.mark.timeout(180)
HOOK = {"url": "https://hooks.example.com/qylon", "event_types": ["meeting.stored"]}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request, tmp_path):
    """A database of its own: the deliveries queued here are never picked up by the
    suite's workflow executors."""
    made = sqlite_backend(tmp_path) if request.param == "sqlite" else postgres_backend()
    with made as backend:
        yield backend


@contextmanager
def server_process(backend, home):
    """``qylon server start`` (a process of its own) on ``backend``."""
    port = free_port()
    env = {
        **os.environ,
        "QYLON_HOME": str(home),
        "QYLON_DATABASE_URL": backend.url,
        "QYLON_SECRET_KEY": PEPPER,
        "QYLON_RATE_LIMIT": "100000/minute",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "server", "start", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        api = Api(url, backend)
        yield api
        api.http.close()
    finally:
        proc.terminate()
        proc.wait(20)


def _upload(api, org) -> str:
    mid = str(uuid.uuid4())
    r = api.put(f"/v1/meetings/{mid}", org.token, json=meeting_body(mid))
    assert r.status_code in (200, 201), r.text
    return mid


def _delivered(api, org, hook_id) -> list[str]:
    r = api.get(f"/v1/webhooks/{hook_id}/deliveries", org.token)
    assert r.status_code == 200, r.text
    return sorted(i["payload"]["data"]["subject"] for i in r.json()["items"])


def test_a_webhook_changed_in_one_process_applies_at_the_next_upload_in_another(fresh, tmp_path):
    org = new_org(fresh)
    with running(fresh) as here_server, server_process(fresh, tmp_path / "there") as there:
        here = Api(here_server.url, fresh)
        _upload(here, org), _upload(there, org)  # both have read "no subscriptions"
        hook = here.post("/v1/webhooks", org.token, json=HOOK).json()
        first = _upload(there, org)
        assert _delivered(here, org, hook["id"]) == [f"meeting:{first}"]

        assert here.patch(
            f"/v1/webhooks/{hook['id']}", org.token, json={"enabled": False}
        ).is_success
        _upload(there, org)
        assert _delivered(here, org, hook["id"]) == [f"meeting:{first}"]

        # enabled again in plain SQL, by neither server: the triggers see it too
        db = Database(fresh.admin_url)
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE webhook_subscriptions SET enabled = :on WHERE id = :id"),
                {"on": True, "id": hook["id"]},
            )
        db.dispose()
        again, here_too = _upload(there, org), _upload(here, org)
        expected = sorted(f"meeting:{m}" for m in (first, again, here_too))
        assert _delivered(here, org, hook["id"]) == expected


def test_what_a_rolled_back_transaction_read_of_its_own_change_is_not_kept(fresh):
    org = new_org(fresh)
    db = Database(fresh.url)
    try:
        with db.session(org.id) as s:
            set_org(s, org.id)
            assert webhooks._subscribed(s) == ()  # read, and kept
        s = db._sessions(info={"org_id": org.id})
        try:
            s.begin()
            set_org(s, org.id)
            s.add(
                WebhookSubscription(
                    url=HOOK["url"],
                    event_types=HOOK["event_types"],
                    secret="x",
                    created_by=org.owner_id,
                    created_key="k",
                )
            )
            s.flush()
            assert [h.event_types for h in webhooks._subscribed(s)] == [{"meeting.stored"}]
            s.rollback()
        finally:
            s.close()
        with db.session(org.id) as s:
            set_org(s, org.id)
            assert webhooks._subscribed(s) == ()
    finally:
        db.dispose()

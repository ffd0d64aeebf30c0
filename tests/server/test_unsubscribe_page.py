"""The unsubscribe page on the real server and PostgreSQL: a person's click never answers
"conflict" because something else was appending events at that moment."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from qylon_server import links
from qylon_server.events import store
from qylon_server.events.store import TABLE

from .harness import settings_for


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("postgres")  # SQLite has no lock timeout to lose a race to


def test_an_unsubscribe_that_waits_out_a_held_event_lock_still_unsubscribes(
    api, org, backend, monkeypatch
):
    # the shared team server runs in this process: its appends give up after 300 ms
    monkeypatch.setattr(store, "LOCK_TIMEOUT", "300ms")
    person = api.post("/v1/users", org.token, json={"email": "nia@firm.example"}).json()
    token = links.sign(
        settings_for(backend), links.Link("unsubscribe", org.id, person["id"], "new-consultant")
    )
    engine = sa.create_engine(backend.admin_url)
    held = threading.Event()

    def hold():  # another transaction appending events, longer than an append may wait
        with engine.begin() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
            held.set()
            time.sleep(0.5)  # the first attempt gives up, a later one gets it

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        done = api.http.post(f"/p/unsubscribe?t={quote(token)}")
    finally:
        holder.join()
        engine.dispose()
    assert done.status_code == 200, done.text
    assert "no more onboarding emails" in done.text
    again = api.http.post(f"/p/unsubscribe?t={quote(token)}")
    assert again.status_code == 200 and "already" in again.text

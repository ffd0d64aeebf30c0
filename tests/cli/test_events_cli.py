"""`qylon events tail` against the real team server (SQLite and PostgreSQL): the newest
events, filters, --jq, and --follow printing events as they are appended.

test_tail_shows_the_newest_events_and_filters runs its commands in-process
(``run_qylon_here``: the same entry point, environment, streams and exit codes, without an
interpreter start per command); test_tail_follow_prints_new_events_as_json_lines runs
the real subprocess, stopped once it has printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from ..conftest import credentials, run_qylon_here
from ..server.harness import Api


def test_tail_shows_the_newest_events_and_filters(server, org):
    env = credentials(server.url, org.token)
    api = Api(server.url)
    names = [f"Tail {uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:
        assert api.post("/v1/clients", org.token, json={"name": name}).status_code == 201
    api.http.close()

    shown = run_qylon_here(
        "events", "tail", "--type", "client.created", "--limit", "2", "--json", env=env
    )
    assert shown.code == 0, shown.stderr
    page = shown.json["data"]
    assert [e["data"]["name"] for e in page["items"]] == names[1:]  # the newest two, in order
    assert set(page) == {"items", "total", "limit", "offset"}

    jq = run_qylon_here(
        "events", "tail", "--type", "client.created", "--jq", ".data.items[-1].type", env=env
    )
    assert jq.code == 0 and jq.stdout.strip() == "client.created"

    human = run_qylon_here("events", "tail", "--limit", "5", env=env)
    assert human.code == 0 and "client.created" in human.stdout and names[-1] in human.stdout

    bad = run_qylon_here("events", "tail", "--type", "client.exploded", "--json", env=env)
    assert bad.code == 3 and "type" in bad.json["error"]["message"]


def test_tail_follow_prints_new_events_as_json_lines(server, org):
    env = {**os.environ, **credentials(server.url, org.token), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "events",
            "tail",
            "--follow",
            "--interval",
            "0.2",
            "--type",
            "client.created",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.5)  # it has read the newest events and polls
        api = Api(server.url)
        name = f"Followed {uuid.uuid4().hex[:6]}"
        assert api.post("/v1/clients", org.token, json={"name": name}).status_code == 201
        api.http.close()
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line)["data"])
            if seen[-1]["data"].get("name") == name:
                break
        assert seen and seen[-1]["data"]["name"] == name and seen[-1]["type"] == "client.created"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

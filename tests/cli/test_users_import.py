"""`qylon users import|export|list|show|deactivate|reactivate` against a real server
(SQLite and PostgreSQL), including a CLI killed mid-import and a server killed and
restarted mid-import."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

import httpx2
import pytest

from ..conftest import credentials, run_qylon_here
from ..server.harness import PEPPER, Api, free_port, new_org, wait_healthy
from .users_helpers import write


@pytest.fixture
def qylon():
    """In-process (the same entry point, no interpreter start). The real `qylon` subprocess
    runs here too: list/show/groups/deactivate/reactivate, the killed import and its rerun,
    and the import that rides out a server restart."""
    return run_qylon_here


PEOPLE = (
    "Email,First name,Last name,Role,Manager,Department,Groups,attr:cost_centre\n"
    "boss@example.com,Bo,Ss,manager,,Ops,a;b,100\n"
    "ann@example.com,Ann,Lee,member,boss@example.com,Ops,a,200\n"
    "zed@example.com,Zed,Ray,member,ann@example.com,,,\n"
    "cy@example.com,Cy,Fox,admin,,Legal,,\n"
)


def server_users(url: str, token: str) -> dict[str, dict]:
    api = Api(url)
    try:
        out, offset = {}, 0
        while True:
            page = api.get(f"/v1/users?limit=1000&offset={offset}", token).json()
            out.update({u["email"]: u for u in page["items"]})
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return out
    finally:
        api.http.close()


def test_dry_run_apply_rerun_and_round_trip(qylon, tmp_path, signed_in, server, org):
    people = write(tmp_path / "people.csv", PEOPLE)
    # the file names groups the server does not have: an error for that row, unless allowed
    refused = qylon("users", "import", str(people), "--dry-run", "--json", env=signed_in)
    assert refused.code == 3, refused.stdout
    errors = refused.json["error"]["errors"]
    assert [(e["code"], e["field"], e["row"]) for e in errors] == [
        ("group_not_found", "groups", 2),
        ("group_not_found", "groups", 3),
    ]
    assert "a, b do not exist; pass --create-groups" in errors[0]["message"]
    dry = qylon(
        "users", "import", str(people), "--dry-run", "--create-groups", "--json", env=signed_in
    )
    assert dry.code == 0, dry.stderr
    assert dry.json["data"]["plan"]["create"] == 4 and dry.json["data"]["dry_run"] is True
    assert dry.json["data"]["new_groups"] == ["a", "b"]
    assert len(server_users(server.url, org.token)) == 1  # only the owner: nothing changed
    human = qylon(
        "users",
        "import",
        str(people),
        "--create-groups",
        "--report",
        str(tmp_path / "r.csv"),
        env=signed_in,
    )
    assert human.code == 0, human.stderr
    # No terminal: each stage's progress ends with a plain line at 100 %.
    assert "Planning: 100% (4/4 rows)" in human.stderr, human.stderr
    assert (
        "4 create" in human.stdout
        and "Applied: 4 created" in human.stdout
        and "new groups a, b" in human.stdout
    )
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8-sig")))
    assert sorted(r["outcome"] for r in rows) == ["created"] * 4
    users = server_users(server.url, org.token)
    assert users["zed@example.com"]["manager_id"] == users["ann@example.com"]["id"]
    assert users["boss@example.com"]["groups"] == ["a", "b"]
    assert users["ann@example.com"]["attributes"] == {"cost_centre": "200"}
    again = qylon("users", "import", str(people), "--json", env=signed_in)
    assert again.json["data"]["plan"]["unchanged"] == 4 and again.json["data"]["applied"] == {
        "unchanged": 4
    }
    # export writes what import reads: a round trip changes nothing
    exported = tmp_path / "export.csv"
    assert qylon("users", "export", "-o", str(exported), env=signed_in).code == 0
    back = qylon("users", "import", str(exported), "--mode", "sync", "--json", env=signed_in)
    assert back.code == 0 and back.json["data"]["applied"] == {"unchanged": 5}
    as_json = qylon("users", "export", "--format", "json", env=signed_in)
    assert {u["email"] for u in json.loads(as_json.stdout)} == set(users)
    # a change in the file is an update of exactly that field
    write(people, PEOPLE.replace("Legal", "Tax"))
    upd = qylon("users", "import", str(people), "--json", env=signed_in)
    assert upd.json["data"]["applied"] == {"updated": 1, "unchanged": 3}
    assert upd.json["data"]["items"][0]["changes"] == {"department": {"from": "Legal", "to": "Tax"}}


def test_abort_changes_nothing_and_skip_imports_the_valid_rows(
    qylon, tmp_path, signed_in, server, org
):
    bad = write(
        tmp_path / "bad.csv",
        "email,role\nok@example.com,member\nnot-an-email,member\nfine@example.com,boss\n",
    )
    aborted = qylon("users", "import", str(bad), "--json", env=signed_in)
    assert aborted.code == 3 and aborted.json["error"]["code"] == "validation_failed"
    assert len(server_users(server.url, org.token)) == 1
    report = tmp_path / "r.json"
    skipped = qylon(
        "users",
        "import",
        str(bad),
        "--on-error",
        "skip",
        "--report",
        str(report),
        "--json",
        env=signed_in,
    )
    assert skipped.code == 7, skipped.stdout  # partially applied
    partial = skipped.json["error"]
    assert partial["code"] == "partially_applied"
    assert partial["applied"] == {"created": 1, "rejected": 2}
    assert (partial["rows_applied"], partial["rows_rejected"]) == (1, 2)
    assert [e["row"] for e in partial["errors"]] == [3, 4]
    outcomes = {r["row"]: r["outcome"] for r in json.loads(report.read_text())}
    assert outcomes == {2: "created", 3: "rejected", 4: "rejected"}
    users = server_users(server.url, org.token)
    assert "ok@example.com" in users and "fine@example.com" not in users and len(users) == 2
    assert qylon("users", "import", str(bad), "--on-error", "maybe", env=signed_in).code == 2


def test_sync_deactivates_the_missing_but_never_the_caller(qylon, tmp_path, signed_in, server, org):
    people = write(tmp_path / "people.csv", PEOPLE)
    assert qylon("users", "import", str(people), "--create-groups", env=signed_in).code == 0
    fewer = write(
        tmp_path / "fewer.csv", "email\nboss@example.com\nann@example.com\nzed@example.com\n"
    )
    plan = qylon(
        "users", "import", str(fewer), "--mode", "sync", "--dry-run", "--json", env=signed_in
    ).json["data"]
    assert (
        plan["plan"]["deactivate"] == 1 and plan["plan"]["skip"] == 1
    )  # cy goes; the owner (caller) stays
    done = qylon("users", "import", str(fewer), "--mode", "sync", "--json", env=signed_in)
    assert done.json["data"]["applied"]["deactivated"] == 1
    users = server_users(server.url, org.token)
    assert users["cy@example.com"]["status"] == "deactivated"
    owner = next(u for u in users.values() if u["role"] == "owner")
    assert owner["status"] != "deactivated"


def test_users_are_fetched_a_page_at_a_time_after_the_last_email(
    qylon, tmp_path, signed_in, server, org
):
    from qylon_admin.users import remote

    from qylon_cli.client import ApiClient

    assert (
        qylon(
            "users",
            "import",
            str(write(tmp_path / "people.csv", PEOPLE)),
            "--create-groups",
            "--json",
            env=signed_in,
        ).code
        == 0
    )
    with ApiClient(server.url, org.token) as api:
        emails = [u["email"] for u in remote.users(api, page_size=2)]
        assert api.get("/v1/users", limit=2, after="boss@example.com")["total"] is None
    assert emails == sorted(server_users(server.url, org.token)) and len(emails) == 5


def test_users_from_a_server_without_keyset_pages_come_by_offset():
    """A server from before ``after`` ignores it and answers the first page again."""
    from qylon_admin.users import remote

    class OldServer:
        emails: ClassVar = [f"u{i:02d}@example.com" for i in range(7)]

        def get(self, path, limit, after=None):
            return {"items": [{"email": e} for e in self.emails[:limit]], "total": len(self.emails)}

        def pages(self, path, page_size):
            for start in range(0, len(self.emails), page_size):
                yield from ({"email": e} for e in self.emails[start : start + page_size])

    assert [u["email"] for u in remote.users(OldServer(), page_size=3)] == OldServer.emails


def test_list_show_deactivate_reactivate(qylon_process, tmp_path, signed_in):
    qylon = qylon_process
    assert (
        qylon(
            "users",
            "import",
            str(write(tmp_path / "p.csv", PEOPLE)),
            "--create-groups",
            env=signed_in,
        ).code
        == 0
    )
    listed = qylon("users", "list", "--json", env=signed_in)
    assert listed.json["data"]["total"] == 5
    shown = qylon("users", "show", "ANN@example.com", "--json", env=signed_in)
    assert shown.json["data"]["department"] == "Ops"
    groups = qylon("users", "groups", "--json", env=signed_in).json["data"]
    assert [(g["name"], g["members"]) for g in groups["items"]] == [("a", 2), ("b", 1)]
    assert "a" in qylon("users", "groups", env=signed_in).stdout
    assert qylon("users", "show", "nobody@example.com", "--json", env=signed_in).code == 5
    assert (
        qylon("users", "deactivate", "ann@example.com", "--json", env=signed_in).code == 2
    )  # no terminal: --yes
    off = qylon("users", "deactivate", "ann@example.com", "--yes", "--json", env=signed_in)
    assert off.json["data"]["status"] == "deactivated"
    on = qylon("users", "reactivate", "ann@example.com", "--json", env=signed_in)
    assert on.json["data"]["status"] == "active"
    me = qylon("users", "list", "--status", "active", "--json", env=signed_in).json["data"]["items"]
    owner = next(u for u in me if u["role"] == "owner")
    assert qylon("users", "deactivate", owner["email"], "--yes", "--json", env=signed_in).code == 3


def big_file(path, n: int):
    lines = ["email,first_name,last_name,department,manager"]
    for i in range(n):
        manager = f"user{i // 10:05d}@example.com" if i >= 10 else ""
        lines.append(f"user{i:05d}@example.com,First{i},Last{i},Dept{i % 7},{manager}")
    return write(path, "\n".join(lines) + "\n")


def wait_for_users(url: str, token: str, at_least: int, proc, timeout: float = 60) -> int:
    api = Api(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                total = api.get("/v1/users?limit=1", token).json()["total"]
            except (httpx2.TransportError, ValueError, KeyError):
                total = 0
            if total >= at_least:
                return total
            assert proc.poll() is None, "the import finished before it could be interrupted"
            time.sleep(0.05)
    finally:
        api.http.close()
    raise AssertionError("the import made no progress")


def settled_user_count(url: str, token: str, quiet: float = 1.0, timeout: float = 30) -> int:
    """The user count once it has not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = len(server_users(url, token))
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(server_users(url, token))
        if now == last:
            return now
        last = now
    raise AssertionError("the user count never settled")


def start_import(path, env, *extra):
    full = {**os.environ, "NO_COLOR": "1", **env}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "users",
            "import",
            str(path),
            "--batch-size",
            "40",
            "--json",
            *extra,
        ],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def exactly_once(url: str, token: str, n: int) -> None:
    users = server_users(url, token)
    assert len(users) == n + 1
    api = Api(url)
    try:
        creates, offset = 0, 0
        while True:
            page = api.get(
                f"/v1/audit-events?limit=200&offset={offset}&action=user.create", token
            ).json()
            creates += sum(1 for e in page["items"] if e["action"] == "user.create")
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    finally:
        api.http.close()
    assert creates == n  # each user created once, never twice


@pytest.mark.slow
def test_a_killed_import_finishes_on_rerun_without_duplicates(
    qylon_process, tmp_path, signed_in, server, org
):
    qylon = qylon_process
    n = 1500
    path = big_file(tmp_path / "big.csv", n)
    proc = start_import(path, signed_in)
    try:
        wait_for_users(server.url, org.token, 300, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # The batch the client was sending when it died may still commit on the server.
    partial = settled_user_count(server.url, org.token) - 1
    assert 0 < partial < n
    rerun = qylon("users", "import", str(path), "--batch-size", "200", "--json", env=signed_in)
    assert rerun.code == 0, rerun.stderr
    applied = rerun.json["data"]["applied"]
    assert applied == {"unchanged": partial, "created": n - partial}
    exactly_once(server.url, org.token, n)
    users = server_users(server.url, org.token)
    assert users["user01499@example.com"]["manager_id"] == users["user00149@example.com"]["id"]
    third = qylon("users", "import", str(path), "--json", env=signed_in)
    assert third.json["data"]["applied"] == {"unchanged": n}


@pytest.mark.slow
def test_an_import_rides_out_a_server_restart(tmp_path, backend):
    org = new_org(backend)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **os.environ,
        "QYLON_DATABASE_URL": backend.url,
        "QYLON_SECRET_KEY": PEPPER,
        "QYLON_RATE_LIMIT": "100000/minute",
        "QYLON_AUTH_FAILURE_LIMIT": "100000/minute",
    }

    def start_server():
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "qylon_server.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(url, proc)
        return proc

    n = 1500
    path = big_file(tmp_path / "big.csv", n)
    srv = start_server()
    cli = start_import(path, credentials(url, org.token))
    try:
        wait_for_users(url, org.token, 300, cli)
        srv.send_signal(signal.SIGKILL)
        srv.wait(10)
        time.sleep(0.5)
        srv = start_server()
        out, err = cli.communicate(timeout=180)
        assert cli.returncode == 0, err
        assert json.loads(out)["data"]["applied"].get("created", 0) <= n
        exactly_once(url, org.token, n)
    finally:
        if cli.poll() is None:
            cli.kill()
        srv.send_signal(signal.SIGTERM)
        srv.wait(20)

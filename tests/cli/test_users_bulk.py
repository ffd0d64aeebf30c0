"""Bulk operations an admin can trust, end to end through `qylon users validate|import`
against a real server: delete and suspension files deactivate and never create, a
partly applied import exits 7 with its counts, reports follow the file's order,
--encoding/--delimiter on import, and the --max-deactivate brake on --mode sync."""

from __future__ import annotations

import csv
import json

import pytest

from ..conftest import run_qylon_here
from ..server.harness import Api
from .test_users_import import server_users
from .users_helpers import CSV_DIR, write

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
ENTRA_PEOPLE = [
    "lea.muller@example.com",
    "jose.nunez@example.com",
    "zoe.angstrom@example.com",
    "francois.lefevre@example.com",
    "chiara.damico@example.com",
]


@pytest.fixture
def qylon():
    """In-process: the same entry point without an interpreter start per command
    (tests/cli/test_users_import.py runs `users import` as a real subprocess)."""
    return run_qylon_here


def audit_count(url: str, token: str, action: str) -> int:
    api = Api(url)
    try:
        page = api.get(f"/v1/audit-events?limit=200&action={action}", token).json()
        return sum(1 for e in page["items"] if e["action"] == action)
    finally:
        api.http.close()


def statuses(url: str, token: str) -> dict[str, str]:
    return {email: u["status"] for email, u in server_users(url, token).items()}


def test_entra_delete_template_deactivates_and_never_creates(
    qylon, tmp_path, signed_in, server, org
):
    delete = CSV_DIR / "entra_bulk_delete.csv"
    # offline, the rows show as deactivations (who exists is checked on import)
    checked = qylon("users", "validate", str(delete), "--json")
    assert checked.code == 0, checked.stdout
    data = checked.json["data"]
    assert data["template"] == "Microsoft Entra ID bulk delete" and data["deletes"] is True
    assert data["plan"]["deactivate"] == 5 and data["plan"]["create"] == 0
    assert [i["action"] for i in data["items"]] == ["deactivate"] * 5
    human = qylon("users", "validate", str(delete))
    assert "every row is a user to deactivate" in human.stdout and "5 deactivate" in human.stdout
    # nobody in it exists yet: each row is reported, no one is created
    refused = qylon("users", "import", str(delete), "--json", env=signed_in)
    assert refused.code == 3, refused.stdout
    errors = refused.json["error"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(r, "user_not_found") for r in range(4, 9)]
    assert refused.json["error"]["plan"]["create"] == 0
    assert len(server_users(server.url, org.token)) == 1
    # the same five people, created from Entra's create template (Chiara blocked: Yes)
    created = qylon(
        "users", "import", str(CSV_DIR / "entra_bulk_create.csv"), "--json", env=signed_in
    )
    assert created.code == 0, created.stdout
    assert created.json["data"]["applied"] == {"created": 5}
    dry = qylon("users", "import", str(delete), "--dry-run", "--json", env=signed_in)
    assert dry.code == 0, dry.stdout
    assert dry.json["data"]["plan"] == {
        "create": 0,
        "update": 0,
        "unchanged": 1,  # Chiara was created blocked: already deactivated
        "skip": 0,
        "deactivate": 4,
        "error": 0,
    }
    assert statuses(server.url, org.token)["lea.muller@example.com"] != "deactivated"
    report = tmp_path / "deleted.csv"
    done = qylon("users", "import", str(delete), "--report", str(report), "--json", env=signed_in)
    assert done.code == 0, done.stdout
    assert done.json["data"]["applied"] == {"deactivated": 4, "unchanged": 1}
    assert (done.json["data"]["rows_applied"], done.json["data"]["rows_rejected"]) == (5, 0)
    now = statuses(server.url, org.token)
    assert {now[e] for e in ENTRA_PEOPLE} == {"deactivated"}
    assert sum(1 for s in now.values() if s != "deactivated") == 1  # the owner
    assert audit_count(server.url, org.token, "user.deactivate") == 4
    rows = list(csv.DictReader(report.open(encoding="utf-8-sig")))
    assert [(r["row"], r["email"], r["outcome"]) for r in rows] == [
        ("4", "lea.muller@example.com", "deactivated"),
        ("5", "jose.nunez@example.com", "deactivated"),
        ("6", "zoe.angstrom@example.com", "deactivated"),
        ("7", "francois.lefevre@example.com", "deactivated"),
        ("8", "chiara.damico@example.com", "unchanged"),
    ]
    again = qylon("users", "import", str(delete), "--json", env=signed_in)
    assert again.json["data"]["applied"] == {"unchanged": 5}
    assert audit_count(server.url, org.token, "user.deactivate") == 4


@SQLITE
def test_a_delete_file_reports_unknown_users_and_spares_the_caller(
    qylon, tmp_path, signed_in, server, org
):
    people = write(tmp_path / "people.csv", "email\nann@example.com\nbob@example.com\n")
    assert qylon("users", "import", str(people), env=signed_in).code == 0
    owner = next(e for e, u in server_users(server.url, org.token).items() if u["role"] == "owner")
    # a French portal's template: only the bracketed property is stable
    delete = write(
        tmp_path / "delete.csv",
        "version:v1.0,\nNom d'utilisateur [userPrincipalName] Obligatoire\n"
        f"Example: chris@contoso.com\nnobody@example.com\nann@example.com\n{owner}\n",
    )
    aborted = qylon("users", "import", str(delete), "--json", env=signed_in)
    assert aborted.code == 3, aborted.stdout
    assert [(e["row"], e["code"]) for e in aborted.json["error"]["errors"]] == [
        (4, "user_not_found"),
        (6, "deactivate_self"),
    ]
    assert statuses(server.url, org.token)["ann@example.com"] != "deactivated"
    report = tmp_path / "r.json"
    skipped = qylon(
        "users",
        "import",
        str(delete),
        "--on-error",
        "skip",
        "--report",
        str(report),
        "--json",
        env=signed_in,
    )
    assert skipped.code == 7, skipped.stdout
    partial = skipped.json["error"]
    assert (partial["rows_applied"], partial["rows_rejected"]) == (1, 2)
    assert [(r["row"], r["outcome"]) for r in json.loads(report.read_text())] == [
        (4, "rejected"),
        (5, "deactivated"),
        (6, "rejected"),
    ]
    now = statuses(server.url, org.token)
    assert now["ann@example.com"] == "deactivated" and now[owner] != "deactivated"
    assert "nobody@example.com" not in now and now["bob@example.com"] != "deactivated"
    # sync makes no sense with a delete file
    assert qylon("users", "import", str(delete), "--mode", "sync", env=signed_in).code == 2


def google_file(path, changes: dict[str, str], extra: list[str] | None = None):
    """Google's sample with ``New Status [UPLOAD ONLY]`` set per email (and extra rows)."""
    with (CSV_DIR / "google_workspace_bulk_upload.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    email, status = (
        header.index("Email Address [Required]"),
        header.index("New Status [UPLOAD ONLY]"),
    )
    for row in body:
        row[status] = changes.get(row[email], row[status])
    for address in extra or []:
        row = [""] * len(header)
        row[0], row[1], row[email], row[status] = "New", "Person", address, "Suspended"
        body.append(row)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *body])
    return path


@SQLITE
def test_google_new_status_suspended_deactivates_and_never_creates(
    qylon, tmp_path, signed_in, server, org
):
    sample = CSV_DIR / "google_workspace_bulk_upload.csv"
    assert qylon("users", "import", str(sample), "--json", env=signed_in).code == 0
    suspend = google_file(
        tmp_path / "suspend.csv",
        {"zoe.angstrom@example.org": "Suspended"},
        extra=["typo.person@example.org"],
    )
    offline = qylon("users", "validate", str(suspend), "--json").json["data"]
    assert offline["plan"]["deactivate"] == 2 and offline["plan"]["create"] == 4
    dry = qylon("users", "import", str(suspend), "--dry-run", "--json", env=signed_in)
    assert dry.code == 3
    plan = dry.json["error"]
    assert plan["plan"]["deactivate"] == 1 and plan["plan"]["create"] == 0
    zoe = next(i for i in plan["items"] if i["email"] == "zoe.angstrom@example.org")
    assert zoe["action"] == "deactivate" and zoe["row"] == 4
    assert zoe["changes"] == {"status": {"from": "active", "to": "suspended"}}
    assert [(e["row"], e["code"]) for e in plan["errors"]] == [(7, "user_not_found")]
    done = qylon("users", "import", str(suspend), "--on-error", "skip", "--json", env=signed_in)
    assert done.code == 7, done.stdout
    assert done.json["error"]["applied"] == {"deactivated": 1, "unchanged": 4, "rejected": 1}
    now = statuses(server.url, org.token)
    assert now["zoe.angstrom@example.org"] == "deactivated"
    assert "typo.person@example.org" not in now
    assert audit_count(server.url, org.token, "user.deactivate") == 1


@SQLITE
def test_okta_deprovisioned_status_and_a_login_list_deactivate(
    qylon, tmp_path, signed_in, server, org
):
    sample = CSV_DIR / "okta_user_import.csv"
    assert qylon("users", "import", str(sample), "--json", env=signed_in).code == 0
    # Okta's status words in an export: DEPROVISIONED is a deactivated user
    export = write(
        tmp_path / "okta_status.csv",
        "login,email,status\nlea.muller@example.com,lea.muller@example.com,DEPROVISIONED\n"
        "jose.nunez@example.com,jose.nunez@example.com,ACTIVE\n",
    )
    done = qylon("users", "import", str(export), "--json", env=signed_in)
    assert done.code == 0, done.stdout
    assert done.json["data"]["applied"] == {"deactivated": 1, "unchanged": 1}
    # the logins of Okta's bulk-delete procedure: a plain list, named a delete file by --deactivate
    logins = write(tmp_path / "logins.csv", "login\nzoe.angstrom@example.com\nghost@example.com\n")
    listed = qylon("users", "validate", str(logins), "--deactivate", "--json").json["data"]
    assert listed["deletes"] is True and listed["plan"]["deactivate"] == 2
    applied = qylon(
        "users",
        "import",
        str(logins),
        "--deactivate",
        "--on-error",
        "skip",
        "--json",
        env=signed_in,
    )
    assert applied.code == 7, applied.stdout
    assert applied.json["error"]["applied"] == {"deactivated": 1, "rejected": 1}
    now = statuses(server.url, org.token)
    assert now["zoe.angstrom@example.com"] == "deactivated" and "ghost@example.com" not in now


@SQLITE
def test_eight_of_ten_rejected_is_partially_applied_in_file_order(
    qylon, tmp_path, signed_in, server, org
):
    lines = ["email,role"]
    for i in range(10):
        good = i in (3, 7)
        lines.append(f"user{i}@example.com,{'member' if good else 'boss'}")
    path = write(tmp_path / "ten.csv", "\n".join(lines) + "\n")
    report = tmp_path / "r.csv"
    result = qylon(
        "users",
        "import",
        str(path),
        "--on-error",
        "skip",
        "--report",
        str(report),
        "--json",
        env=signed_in,
    )
    assert result.code == 7, result.stdout
    error = result.json["error"]
    assert (
        error["code"] == "partially_applied" and "2 row(s) applied, 8 rejected" in error["message"]
    )
    assert (error["rows_applied"], error["rows_rejected"]) == (2, 8)
    assert error["applied"] == {"created": 2, "rejected": 8}
    assert len(error["errors"]) == 8
    rows = list(csv.DictReader(report.open(encoding="utf-8-sig")))
    assert [int(r["row"]) for r in rows] == list(range(2, 12))  # file order
    assert [r["outcome"] for r in rows] == [
        "created" if i in (3, 7) else "rejected" for i in range(10)
    ]
    human = qylon("users", "import", str(path), "--on-error", "skip", env=signed_in)
    assert human.code == 7 and "Applied: 2 unchanged, 8 rejected" in human.stdout
    assert "2 row(s) applied, 8 rejected" in human.stderr
    # every row rejected: nothing changed, exit 3
    bad = write(tmp_path / "bad.csv", "email,role\nx@example.com,boss\ny@example.com,boss\n")
    none = qylon("users", "import", str(bad), "--on-error", "skip", "--json", env=signed_in)
    assert none.code == 3 and none.json["error"]["rows_rejected"] == 2


@SQLITE
def test_import_takes_encoding_and_delimiter(qylon, tmp_path, signed_in, server, org):
    # pipes are not detected, and cp850 reads differently from what detection picks
    path = tmp_path / "dos.csv"
    path.write_bytes("email|first_name\r\nlea@example.com|Léa\r\n".encode("cp850"))
    unread = qylon("users", "import", str(path), "--json", env=signed_in)
    assert unread.code == 3 and unread.json["error"]["code"] == "no_email_column"
    done = qylon(
        "users",
        "import",
        str(path),
        "--delimiter",
        "|",
        "--encoding",
        "cp850",
        "--json",
        env=signed_in,
    )
    assert done.code == 0, done.stdout
    assert done.json["data"]["file"]["delimiter"] == "'|'"
    assert server_users(server.url, org.token)["lea@example.com"]["given_name"] == "Léa"
    assert "--encoding" in qylon("users", "import", "--help").stdout


def test_validate_and_import_share_their_file_options():
    import typer
    from qylon_admin.cli.users import app

    commands = typer.main.get_command(app).commands
    names = ("map_", "region", "date_order", "encoding", "delimiter", "deactivate", "report")
    for name in names:
        found = [
            next(p for p in commands[cmd].params if p.name == name)
            for cmd in ("validate", "import")
        ]
        assert found[0].opts == found[1].opts and found[0].help == found[1].help, name


@SQLITE
def test_sync_refuses_to_deactivate_more_than_max_deactivate(
    qylon, tmp_path, signed_in, server, org
):
    everyone = [f"user{i:02d}@example.com" for i in range(19)]
    path = write(tmp_path / "all.csv", "email\n" + "\n".join(everyone) + "\n")
    assert qylon("users", "import", str(path), env=signed_in).code == 0  # 20 active with the owner
    owner = next(e for e, u in server_users(server.url, org.token).items() if u["role"] == "owner")
    # a cut-off export: 13 of 20 active users would go; the default (10% -> 2) refuses
    cut = write(tmp_path / "cut.csv", "email\n" + "\n".join([owner, *everyone[:6]]) + "\n")
    refused = qylon("users", "import", str(cut), "--mode", "sync", "--json", env=signed_in)
    assert refused.code == 3, refused.stdout
    error = refused.json["error"]
    assert error["code"] == "too_many_deactivations"
    assert "13 of 20" in error["message"] and "--max-deactivate 10%" in error["message"]
    assert "--max-deactivate 13" in error["hint"]
    assert error["plan"]["deactivate"] == 13  # the plan comes with it: who would go
    assert "deactivated" not in statuses(server.url, org.token).values()
    dry = qylon("users", "import", str(cut), "--mode", "sync", "--dry-run", env=signed_in)
    assert dry.code == 3 and "13 deactivate" in dry.stdout and "--max-deactivate" in dry.stderr
    assert (
        qylon(
            "users", "import", str(cut), "--mode", "sync", "--max-deactivate", "12", env=signed_in
        ).code
        == 3
    )
    assert "deactivated" not in statuses(server.url, org.token).values()
    assert (
        qylon(
            "users", "import", str(cut), "--mode", "sync", "--max-deactivate", "x", env=signed_in
        ).code
        == 2
    )
    # two leavers of twenty: within the default
    two = write(tmp_path / "two.csv", "email\n" + "\n".join([owner, *everyone[:17]]) + "\n")
    ok = qylon("users", "import", str(two), "--mode", "sync", "--json", env=signed_in)
    assert ok.code == 0 and ok.json["data"]["applied"]["deactivated"] == 2
    # an explicit override lets the big one through
    through = qylon(
        "users",
        "import",
        str(cut),
        "--mode",
        "sync",
        "--max-deactivate",
        "100%",
        "--json",
        env=signed_in,
    )
    assert through.code == 0, through.stdout
    assert through.json["data"]["applied"]["deactivated"] == 11  # 13 less the 2 gone before
    assert sum(1 for s in statuses(server.url, org.token).values() if s != "deactivated") == 7


def test_max_deactivate_values_and_template_detection():
    from qylon_admin.users import columns
    from qylon_admin.users.plan import parse_max_deactivate

    from qylon_cli.errors import UsageError

    assert parse_max_deactivate("20") == (20, None)
    assert parse_max_deactivate("12.5%") == (None, 12.5)
    assert parse_max_deactivate("0") == (0, None)
    for bad in ("-1", "101%", "ten", ""):
        with pytest.raises(UsageError):
            parse_max_deactivate(bad)
    assert columns.template(["User name [userPrincipalName] Required"], "version:v1.0") == (
        "entra-delete"
    )
    assert columns.template(["User name [userPrincipalName] Required", ""], "version:v1.0")
    assert columns.template(["User name [userPrincipalName] Required"], None) is None
    assert columns.template(["userPrincipalName"], "version:v1.0") is None
    assert (
        columns.template(["Name [displayName] Required", "User name [userPrincipalName]"], "v")
        is None
    )


@SQLITE
def test_a_batch_refused_after_others_were_applied_is_partial(
    qylon, tmp_path, signed_in, server, org
):
    owner = next(e for e, u in server_users(server.url, org.token).items() if u["role"] == "owner")
    # the planner flags the last owner's demotion; --on-error skip sends it and the server refuses
    path = write(tmp_path / "p.csv", f"email,role\nnew@example.com,member\n{owner},member\n")
    result = qylon(
        "users",
        "import",
        str(path),
        "--on-error",
        "skip",
        "--batch-size",
        "1",
        "--json",
        env=signed_in,
    )
    assert result.code == 7, result.stdout
    assert result.json["error"]["code"] == "batch_refused"
    assert "earlier batches were applied" in result.json["error"]["message"]
    assert "new@example.com" in server_users(server.url, org.token)


def test_planning_deletes_and_suspensions():
    from qylon_admin.users.model import UserRow
    from qylon_admin.users.plan import Planner

    from qylon_cli.errors import UsageError

    existing = [
        {"email": "boss@example.com", "role": "owner", "status": "active"},
        {"email": "ann@example.com", "role": "member", "status": "active"},
        {"email": "old@example.com", "role": "member", "status": "suspended"},
        {"email": "me@example.com", "role": "admin", "status": "active"},
    ]
    deletes = Planner(existing, deletes=True, caller="me@example.com")
    emails = ["ann", "old", "nobody", "me", "boss"]
    actions = [
        deletes.item(r, UserRow(email=f"{e}@example.com")).action for r, e in enumerate(emails)
    ]
    assert actions == ["deactivate", "unchanged", "error", "error", "deactivate"]
    deletes.finish()
    assert [(p.row, p.code) for p in deletes.problems] == [
        (2, "user_not_found"),
        (3, "deactivate_self"),
        (4, "last_owner"),  # the only owner: never deactivated by a file either
    ]
    assert "a***@" not in deletes.problems[0].value and deletes.problems[0].value.startswith(
        "n***@"
    )
    # a suspension for an unknown user: an error where the column is Google's instruction
    gone = UserRow(email="new@example.com", status="suspended")
    assert Planner(existing, status_instruction=True).item(2, gone).action == "error"
    assert Planner(existing).item(2, gone).action == "create"  # an export restored
    assert Planner(existing, status_instruction=True, offline=True).item(2, gone).action == (
        "deactivate"
    )
    # any file: an active user set to suspended is a deactivation with its changes
    item = Planner(existing).item(
        2, UserRow(email="ann@example.com", status="suspended", title="X")
    )
    assert item.action == "deactivate" and set(item.changes) == {"status", "title"}
    assert (
        Planner(existing, caller="me@example.com")
        .item(2, UserRow(email="me@example.com", status="suspended"))
        .action
        == "error"
    )
    with pytest.raises(UsageError):
        Planner(existing, deletes=True, mode="sync")

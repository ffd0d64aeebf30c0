"""`qylon users add|update|set-role`, `qylon groups ...` and `qylon audit list` run as an
admin would: the real commands against the real server, on SQLite and PostgreSQL. Each
change touches one person (or group) and leaves exactly one audit event; each refusal
exits with its code and changes nothing."""

from __future__ import annotations

import pytest

from ..conftest import credentials, run_qylon_here
from ..server.harness import Api


@pytest.fixture
def qylon():
    """Commands run in-process: these tests run about a hundred each. The groups test runs
    the real `qylon` subprocess (users, groups and audit commands)."""
    return run_qylon_here


def events(qylon, env, *args) -> dict:
    result = qylon("audit", "list", "--paginate", *args, "--json", env=env)
    assert result.code == 0, result.stdout + result.stderr
    return result.json["data"]


def everyone(qylon, env) -> dict[str, dict]:
    listed = qylon("users", "list", "--paginate", "--json", env=env)
    assert listed.code == 0, listed.stderr
    return {u["email"]: u for u in listed.json["data"]["items"]}


def owner_email(qylon, env) -> str:
    return next(e for e, u in everyone(qylon, env).items() if u["role"] == "owner")


def admin_env(server, org) -> dict:
    api = Api(server.url)
    try:
        return credentials(
            server.url, api.make_user(org.token, "admin", ["read", "write", "admin"])
        )
    finally:
        api.http.close()


def test_add_update_and_set_role_change_one_person_with_one_event_each(qylon, signed_in):
    env = signed_in
    boss = owner_email(qylon, env)
    assert qylon("groups", "create", "Sales", "--json", env=env).code == 0
    assert qylon("users", "add", "bob@example.com", env=env).code == 0
    before = everyone(qylon, env)
    count = events(qylon, env)["total"]

    added = qylon(
        "users", "add", "Ann@Example.com", "--name", "Ann Lee", "--first-name", "Ann",
        "--role", "manager", "--manager", boss, "--title", "Rep", "--department", "Sales",
        "--groups", "sales", "--phone", "07700 900123", "--region", "GB",
        "--start-date", "15 Mar 2026", "--attr", "badge=B7", "--json", env=env,
    )  # fmt: skip
    assert added.code == 0, added.stdout + added.stderr
    data = added.json["data"]
    ann = data["user"]
    assert data["outcome"] == "created" and ann["email"] == "ann@example.com"
    assert (ann["role"], ann["groups"], ann["phone"], ann["start_date"]) == (
        "manager",
        ["Sales"],
        "+447700900123",
        "2026-03-15",
    )
    assert ann["manager_id"] == before[boss]["id"] and ann["attributes"] == {"badge": "B7"}
    trail = events(qylon, env)
    assert trail["total"] == count + 1
    assert (trail["items"][0]["action"], trail["items"][0]["target_id"]) == (
        "user.invite",
        ann["id"],
    )

    updated = qylon(
        "users", "update", "ann@example.com", "--title", "Head of Sales", "--department", "",
        "--start-date", "", "--attr", "desk=4F", "--json", env=env,
    )  # fmt: skip
    assert updated.code == 0, updated.stdout + updated.stderr
    result = updated.json["data"]
    assert (result["outcome"], result["changed"]) == (
        "updated",
        ["attributes", "department", "start_date", "title"],
    )
    assert result["user"]["department"] is None and result["user"]["start_date"] is None
    assert result["user"]["groups"] == ["Sales"] and result["user"]["phone"] == "+447700900123"
    assert result["user"]["attributes"] == {"badge": "B7", "desk": "4F"}
    again = qylon("users", "update", "ann@example.com", "--title", "Head of Sales", env=env)
    assert again.code == 0 and "No change" in again.stdout

    role = qylon("users", "set-role", "ann@example.com", "ADMIN", "--json", env=env)
    assert role.code == 0, role.stdout + role.stderr
    assert role.json["data"]["changed"] == ["role"]
    assert role.json["data"]["user"]["role"] == "admin"
    human = qylon("users", "set-role", "ann@example.com", "member", env=env)
    assert human.code == 0 and "Updated ann@example.com: role." in human.stdout

    about = events(qylon, env, "--target", "ann@example.com")
    assert [(e["action"], e["detail"].get("fields")) for e in about["items"]] == [
        ("user.update", ["role"]),
        ("user.update", ["role"]),
        ("user.update", ["attributes", "department", "start_date", "title"]),
        ("user.invite", None),
    ]
    assert events(qylon, env)["total"] == count + 4
    after = everyone(qylon, env)
    assert {e: u for e, u in after.items() if e != "ann@example.com"} == before


def test_refusals_exit_with_their_codes_and_change_nothing(qylon, signed_in, server, org):
    env = signed_in
    boss = owner_email(qylon, env)
    assert qylon("users", "add", "ann@example.com", env=env).code == 0
    assert qylon("groups", "create", "Sales", env=env).code == 0
    admin = admin_env(server, org)
    before = everyone(qylon, admin)  # the admin's first call makes them active
    count = events(qylon, env)["total"]

    def code(*args, who=env) -> tuple[int, str]:
        result = qylon(*args, "--json", env=who)
        return result.code, result.json["error"]["code"]

    # unknown email: 5
    assert code("users", "set-role", "nobody@example.com", "admin") == (5, "not_found")
    assert code("users", "update", "nobody@example.com", "--title", "x") == (5, "not_found")
    assert code("groups", "add-member", "Sales", "nobody@example.com")[0] == 5
    assert code("groups", "add-member", "Nope", "ann@example.com")[0] == 5
    # bad values: 3, before anything is sent
    assert code("users", "set-role", "ann@example.com", "boss") == (3, "role_invalid")
    assert code("users", "add", "new@example.com", "--role", "boss") == (3, "role_invalid")
    assert code("users", "add", "not-an-email")[0] == 3
    assert code("users", "add", "x@example.com", "--phone", "12")[0] == 3
    assert code("users", "add", "x@example.com", "--attr", "novalue")[0] == 3
    assert code("users", "update", "ann@example.com", "--start-date", "03/04/2026")[0] == 3
    # refused by the server's rules: 3
    assert code("users", "add", "ANN@example.com")[0] == 3  # taken
    assert code("users", "update", "ann@example.com", "--manager", "nobody@example.com") == (
        3,
        "manager_not_found",
    )
    assert code("users", "update", "ann@example.com", "--groups", "Nope") == (3, "group_not_found")
    assert code("users", "set-role", boss, "member") == (3, "last_owner")
    assert code("groups", "create", "SALES")[0] == 3
    # rank: 4
    assert code("users", "set-role", "ann@example.com", "owner", who=admin) == (4, "not_allowed")
    assert code("users", "update", boss, "--title", "Boss", who=admin) == (4, "not_allowed")
    assert code("users", "add", "o@example.com", "--role", "owner", who=admin)[0] == 4
    assert code("groups", "add-member", "Sales", boss, who=admin)[0] == 4
    # usage: 2
    assert qylon("users", "update", "ann@example.com", env=env).code == 2
    assert qylon("groups", "delete", "Sales", env=env).code == 2  # needs --yes without a terminal
    assert qylon("audit", "list", "--since", "last week", env=env).code == 2

    assert everyone(qylon, env) == before
    assert events(qylon, env)["total"] == count


def test_groups_one_change_at_a_time(qylon_process, signed_in):
    qylon, env = qylon_process, signed_in
    assert qylon("users", "add", "ann@example.com", env=env).code == 0
    made = qylon("groups", "create", "Sales EMEA", "--json", env=env)
    assert made.code == 0 and made.json["data"]["members"] == 0
    added = qylon("groups", "add-member", "sales emea", "ann@example.com", "--json", env=env)
    assert added.code == 0, added.stdout + added.stderr
    assert added.json["data"]["changed"] and added.json["data"]["group"]["members"] == 1
    again = qylon("groups", "add-member", "Sales EMEA", "ann@example.com", env=env)
    assert again.code == 0 and "already in" in again.stdout

    listed = qylon("groups", "list", "--json", env=env).json["data"]
    assert [(g["name"], g["members"]) for g in listed["items"]] == [("Sales EMEA", 1)]
    assert (listed["total"], listed["offset"]) == (1, 0)
    shown = qylon("groups", "show", "SALES EMEA", "--json", env=env).json["data"]
    assert [u["email"] for u in shown["users"]] == ["ann@example.com"]
    assert "ann@example.com" in qylon("groups", "show", "Sales EMEA", env=env).stdout
    user = qylon("users", "show", "ann@example.com", "--json", env=env).json["data"]
    assert user["groups"] == ["Sales EMEA"]

    removed = qylon("groups", "remove-member", "Sales EMEA", "ann@example.com", env=env)
    assert removed.code == 0 and "Removed ann@example.com from Sales EMEA." in removed.stdout
    deleted = qylon("groups", "delete", "Sales EMEA", "--yes", "--json", env=env)
    assert deleted.code == 0, deleted.stdout + deleted.stderr
    assert qylon("groups", "show", "Sales EMEA", "--json", env=env).code == 5

    trail = events(qylon, env, "--since", "1h")["items"]
    assert [e["action"] for e in trail[:4]] == [
        "group.delete",
        "group.update",
        "group.update",
        "group.create",
    ]
    table = qylon("audit", "list", "--action", "group.update", env=env)
    assert table.code == 0, table.stderr
    assert "Sales EMEA +ann@example.com" in table.stdout
    assert "Sales EMEA -ann@example.com" in table.stdout
    assert "owner@" in table.stdout  # the actor, by email
    page = qylon("audit", "list", "--limit", "1", "--offset", "1", "--json", env=env).json["data"]
    assert (len(page["items"]), page["limit"], page["offset"]) == (1, 1, 1)
    assert page["items"][0]["action"] == "group.update"

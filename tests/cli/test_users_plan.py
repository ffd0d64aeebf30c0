"""Planning: create / update (with the changes) / unchanged / skip / deactivate, per mode."""

from __future__ import annotations

import pytest
from qylon_admin.users.model import UserRow
from qylon_admin.users.plan import Planner, diff, plan_all

from qylon_cli.errors import UsageError

EXISTING = [
    {"email": "owner@example.com", "first_name": "Olga", "role": "owner", "status": "active"},
    {
        "email": "ann@example.com",
        "first_name": "Ann",
        "title": "CTO",
        "role": "admin",
        "phone": "+447700900123",
        "groups": ["eng", "leads"],
        "attributes": {"badge": "B1"},
    },
    {"email": "gone@example.com", "first_name": "Gus", "role": "member"},
    {"email": "old@example.com", "first_name": "Old", "role": "member", "status": "suspended"},
    {"email": "me@example.com", "first_name": "Me", "role": "admin"},
]


def rows(*users):
    return [(i + 2, UserRow(**u)) for i, u in enumerate(users)]


FILE = rows(
    {"email": "new@example.com", "first_name": "Nia"},
    {
        "email": "ann@example.com",
        "first_name": "Ann",
        "title": "CEO",
        "groups": ["leads", "eng"],
        "attributes": {"badge": "B1", "floor": "3"},
    },
    {"email": "owner@example.com", "first_name": "Olga"},
)


def actions(items):
    return {(i.email, i.action) for i in items}


def test_upsert_creates_updates_and_leaves_the_rest():
    items, planner = plan_all(FILE, EXISTING)
    assert actions(items) == {
        ("new@example.com", "create"),
        ("ann@example.com", "update"),
        ("owner@example.com", "unchanged"),
    }
    update = next(i for i in items if i.action == "update")
    # groups compare as sets; empty fields in the file leave values alone (phone, role)
    assert update.changes == {
        "title": {"from": "CTO", "to": "CEO"},
        "attr:floor": {"from": None, "to": "3"},
    }
    assert update.row == 3
    assert planner.summary() == {
        "create": 1,
        "update": 1,
        "unchanged": 1,
        "skip": 0,
        "deactivate": 0,
        "error": 0,
    }


def test_create_only_skips_existing_users():
    items, _ = plan_all(FILE, EXISTING, mode="create-only")
    assert actions(items) == {
        ("new@example.com", "create"),
        ("ann@example.com", "skip"),
        ("owner@example.com", "skip"),
    }
    assert all("create-only" in i.reason for i in items if i.action == "skip")


def test_sync_deactivates_missing_users_but_never_the_caller():
    items, planner = plan_all(FILE, EXISTING, mode="sync", caller="ME@example.com")
    assert ("gone@example.com", "deactivate") in actions(items)
    assert ("old@example.com", "deactivate") not in actions(items)  # already suspended
    me = next(i for i in items if i.email == "me@example.com")
    assert me.action == "skip" and "you" in me.reason
    assert planner.summary()["deactivate"] == 1


def test_sync_never_deactivates_the_last_owner():
    items, _ = plan_all(rows({"email": "new@example.com"}), EXISTING, mode="sync")
    owner = next(i for i in items if i.email == "owner@example.com")
    assert owner.action == "skip" and "last owner" in owner.reason
    two_owners = [*EXISTING, {"email": "boss@example.com", "role": "owner"}]
    items, _ = plan_all(rows({"email": "new@example.com"}), two_owners, mode="sync")
    owners = {
        i.email: i.action for i in items if i.email in ("owner@example.com", "boss@example.com")
    }
    assert sorted(owners.values()) == ["deactivate", "skip"]  # one owner always stays
    # a new owner in the file lets the old ones go
    items, _ = plan_all(
        rows({"email": "new@example.com", "role": "owner"}), two_owners, mode="sync"
    )
    assert {i.email for i in items if i.action == "deactivate"} >= {
        "owner@example.com",
        "boss@example.com",
    }


def test_demoting_the_last_owner_is_a_problem():
    _, planner = plan_all(rows({"email": "owner@example.com", "role": "member"}), EXISTING)
    assert [(p.row, p.code) for p in planner.problems] == [(2, "last_owner")]
    _, planner = plan_all(
        rows(
            {"email": "owner@example.com", "role": "member"},
            {"email": "ann@example.com", "role": "owner"},
        ),
        EXISTING,
    )
    assert planner.problems == []


def test_rejected_rows_are_error_items():
    items, planner = plan_all([(2, None)], EXISTING, errors={2: ["row 2: bad"]})
    assert items[0].action == "error" and items[0].errors == ["row 2: bad"]
    assert planner.summary()["error"] == 1


def test_group_names_differing_only_in_case_are_no_change():
    file = rows({"email": "ann@example.com", "groups": ["Leads", "ENG"]})
    items, _ = plan_all(file, EXISTING)
    assert [i.action for i in items[:1]] == ["unchanged"]


def test_groups_must_exist_unless_they_may_be_created():
    file = rows(
        {"email": "x@example.com", "groups": ["Eng", "Sales", "EMEA"]},
        {"email": "y@example.com", "groups": ["eng"]},
    )
    strict = Planner(EXISTING, groups=["eng", "leads"], create_groups=False)
    items = [strict.item(row, user) for row, user in file]
    assert [i.action for i in items] == ["error", "create"]  # names match case-insensitively
    assert [(p.row, p.code, p.value) for p in strict.problems] == [
        (2, "group_not_found", "Sales; EMEA")
    ]
    assert "Sales, EMEA do not exist; pass --create-groups" in items[0].errors[0]
    lenient = Planner(EXISTING, groups=["eng"], create_groups=True)
    assert [lenient.item(row, user).action for row, user in file] == ["create", "create"]
    assert sorted(lenient.new_groups.values()) == ["EMEA", "Sales"] and not lenient.problems
    offline = Planner(EXISTING)  # groups unknown (validate): nothing checked
    assert offline.item(*file[0]).action == "create" and not offline.new_groups


def test_status_and_reactivation():
    items, _ = plan_all(rows({"email": "old@example.com", "status": "active"}), EXISTING)
    assert items[0].changes == {"status": {"from": "suspended", "to": "active"}}


def test_diff_of_dates_is_json_ready():
    old = UserRow(email="a@example.com", start_date="2026-01-01")
    new = UserRow(email="a@example.com", start_date="2026-03-15")
    assert diff(old, new) == {"start_date": {"from": "2026-01-01", "to": "2026-03-15"}}


def test_unknown_mode():
    with pytest.raises(UsageError):
        Planner([], mode="merge")


def test_preview_keeps_rows_for_applying_when_asked(tmp_path):
    from qylon_admin.users.preview import preview

    from .users_helpers import write

    path = write(tmp_path / "u.csv", "email,title\nann@example.com,CEO\nnew@example.com,\n")
    existing = [{"email": "ann@example.com", "title": "CTO"}, {"email": "gone@example.com"}]
    with preview(path, existing=existing, mode="sync", keep=True) as result:
        assert (
            result.planner.summary()["update"] == 1 and result.planner.summary()["deactivate"] == 1
        )
        assert [u.email for _, u in result.validation.users()] == [
            "ann@example.com",
            "new@example.com",
        ]
    assert list(result.validation.users()) == []


def test_sync_never_deactivates_users_whose_row_was_rejected(tmp_path):
    from .users_helpers import check, write

    existing = [
        {"email": "ann@example.com", "role": "owner"},
        {"email": "bob@example.com"},
        {"email": "cy@example.com"},
    ]
    path = write(tmp_path / "u.csv", "email,role\nann@example.com,owner\nbob@example.com,boss\n")
    _, _, items, planner = check(path, existing=existing, mode="sync")
    assert {(i.email, i.action) for i in items} == {
        ("ann@example.com", "unchanged"),
        ("bob@example.com", "error"),
        ("cy@example.com", "deactivate"),
    }
    # a row without a valid email could be anyone: no deactivation at all
    path = write(tmp_path / "v.csv", "email,role\nann@example.com,owner\nbob@,member\n")
    _, _, items, planner = check(path, existing=existing, mode="sync")
    held = [i for i in items if i.row is None]
    assert {i.action for i in held} == {"skip"} and "no valid email" in held[0].reason
    assert planner.summary()["deactivate"] == 0


def test_look_alikes_of_existing_addresses_are_flagged():
    """Cyrillic (or Greek) letters drawn like Latin ones: created, but the plan says whom they imitate."""
    items, _ = plan_all(
        rows(
            {"email": "\u0430nn@example.com"},
            {"email": "\u043ewner@ex\u0430mple.com"},
            {"email": "zoë@example.com"},
            {"email": "plain@example.com"},
        ),
        EXISTING,
    )
    reasons = {i.email: i.reason for i in items if i.action == "create"}
    assert (
        "ann@example.com" in reasons["\u0430nn@example.com"]
        and "impersonation" in reasons["\u0430nn@example.com"]
    )
    assert "owner@example.com" in reasons["\u043ewner@ex\u0430mple.com"]
    assert reasons["zoë@example.com"] is None and reasons["plain@example.com"] is None

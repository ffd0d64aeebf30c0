"""`qylon users validate` run as a user would: the real command.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command), but for
test_invalid_file_exits_3_with_every_error and test_usage_errors, which run the real
subprocess (``qylon_process``): the exit codes 3 and 2 and the output of the real process."""

from __future__ import annotations

import csv
import json

import pytest

from ..conftest import run_qylon_here
from .users_helpers import CSV_DIR, write


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def test_validate_a_directory_template(qylon):
    result = qylon("users", "validate", str(CSV_DIR / "entra_bulk_create.csv"), "--json")
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert data["plan"]["create"] == 5 and data["error_count"] == 0
    assert data["file"]["version_line"] == "version:v1.0" and data["file"][
        "skipped_example_rows"
    ] == [3]
    assert data["file"]["columns"]["fields"]["email"] == ["User name [userPrincipalName] Required"]
    assert next(i["email"] for i in data["items"]) == "lea.muller@example.com"


def test_validate_prints_the_plan_for_people(qylon):
    result = qylon("users", "validate", str(CSV_DIR / "google_workspace_bulk_upload.csv"))
    assert result.code == 0
    assert "UTF-8 with BOM" in result.stdout
    assert "5 create" in result.stdout and "zoe.angstrom@example.org" in result.stdout
    assert "Password [Required] (passwords are never imported)" in result.stdout


def test_invalid_file_exits_3_with_every_error(qylon_process, tmp_path):
    qylon = qylon_process  # the real subprocess
    path = write(
        tmp_path / "bad.csv",
        "Email;Phone;Start date;Role\nbad;+44 20;03/04/2026;member\n"
        "ok@example.com;;;\nOK@example.com;;;boss\n",
        "cp1252",
    )
    result = qylon("users", "validate", str(path), "--json")
    assert result.code == 3
    error = result.json["error"]
    assert error["code"] == "validation_failed" and "nothing was changed" in error["message"]
    found = [(e["row"], e["column"], e["code"], e["value"]) for e in error["errors"]]
    assert found == [
        (2, "Email", "email_invalid", "b***"),
        (2, "Phone", "phone_invalid", "+**20"),
        (2, "Start date", "date_ambiguous", "03/04/2026"),
        (4, "Email", "email_duplicate", "O***@example.com"),
        (4, "Role", "role_invalid", "boss"),
    ]
    assert error["plan"] == {
        "create": 1,
        "update": 0,
        "unchanged": 0,
        "skip": 0,
        "deactivate": 0,
        "error": 2,
    }
    human = qylon("users", "validate", str(path))
    assert human.code == 3
    assert (
        "row 4, Role: role must be one of owner, admin, manager, member (value: boss)"
        in human.stdout
    )
    assert "nothing was changed" in human.stderr


def test_options_map_date_order_region_and_report(qylon, tmp_path):
    path = write(
        tmp_path / "hr.csv",
        "Work Mail\tJoined\tMobile\tBadge\nann@example.com\t03/04/2026\t07700 900123\tB7\n",
    )
    report = tmp_path / "out" / "report.csv"
    result = qylon(
        "users",
        "validate",
        str(path),
        "--map",
        "Work Mail=email",
        "--map",
        "joined=start_date",
        "--map",
        "Badge=attr:badge",
        "--date-order",
        "dmy",
        "--region",
        "GB",
        "--report",
        str(report),
        "--json",
    )
    assert result.code == 0, result.stdout + result.stderr
    data = result.json["data"]
    assert data["file"]["delimiter"] == "tab"
    assert data["file"]["columns"]["attributes"] == {"badge": "Badge"}
    assert data["file"]["columns"]["fields"]["phone"] == ["Mobile"]
    with report.open(encoding="utf-8-sig", newline="") as f:  # closed: the test process lives on
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["email"], r["action"]) for r in rows] == [
        ("2", "ann@example.com", "create")
    ]


def test_report_json_includes_rejected_rows(qylon, tmp_path):
    path = write(
        tmp_path / "u.csv", "email,manager\na@example.com,\nb@example.com,nobody@example.com\n"
    )
    result = qylon("users", "validate", str(path), "--report", str(tmp_path / "r.json"))
    assert result.code == 3
    data = json.loads((tmp_path / "r.json").read_text())
    assert [(d["row"], d["action"]) for d in data] == [(2, "create"), (3, "error")]
    assert "neither in this file nor an existing user" in data[1]["errors"][0]


def test_limit_lists_fewer_items_but_counts_all(qylon, tmp_path):
    path = write(tmp_path / "u.csv", "email\n" + "".join(f"u{i}@example.com\n" for i in range(30)))
    data = qylon("users", "validate", str(path), "--limit", "5", "--json").json["data"]
    assert len(data["items"]) == 5 and data["items_truncated"] and data["plan"]["create"] == 30


def test_usage_errors(qylon_process, tmp_path):
    qylon = qylon_process  # the real subprocess
    path = write(tmp_path / "u.csv", "email\na@example.com\n")
    bad_map = qylon("users", "validate", str(path), "--map", "nothing", "--json")
    assert bad_map.code == 2 and bad_map.json["error"]["code"] == "usage_error"
    assert qylon("users", "validate", str(path), "--mode", "merge").code == 2
    missing = qylon("users", "validate", str(tmp_path / "none.csv"), "--json")
    assert missing.code == 5
    no_email = qylon("users", "validate", str(write(tmp_path / "n.csv", "name\nAnn\n")), "--json")
    assert no_email.code == 3 and no_email.json["error"]["code"] == "no_email_column"

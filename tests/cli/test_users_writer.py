"""The writer's CSV reads back to the same users; the report records each row's outcome."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from qylon_admin.users.model import PlanItem, UserRow
from qylon_admin.users.report import ReportWriter
from qylon_admin.users.writer import write_users

from qylon_cli.errors import UsageError

from .users_helpers import CSV_DIR, users

FULL = [
    UserRow(
        email="zoe.muller@example.com",
        first_name="Zoë",
        last_name="Müller",
        display_name="Zoë Müller",
        role="owner",
        team="Sales",
        groups=["emea", "leads"],
        title="Head of Sales, EMEA",
        department="Sales",
        location="Zürich",
        start_date=date(2026, 3, 15),
        phone="+41446681800",
        status="active",
        attributes={"badge": '=HYPERLINK("x")', "notes": "two\nlines", "cost": "-12"},
    ),
    UserRow(
        email="jose@example.com",
        first_name="José",
        manager="zoe.muller@example.com",
        role="member",
        status="suspended",
        display_name="José",
        attributes={"badge": "@home"},
    ),
    UserRow(email="plain@example.com"),
]


def test_round_trip_of_every_field(tmp_path):
    path = tmp_path / "out.csv"
    assert write_users(FULL, path) == 3
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel-friendly BOM
    back = users(path)
    assert [back[u.email] for u in FULL] == FULL
    # formula-like values are defused in the file, not in what is read back
    raw = path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw and "'@home" in raw and "+41446681800" in raw


@pytest.mark.parametrize(
    "name", ["google_workspace_bulk_upload.csv", "entra_bulk_create.csv", "okta_user_import.csv"]
)
def test_round_trip_of_the_directory_templates(tmp_path, name):
    first = users(CSV_DIR / name)
    out = tmp_path / "export.csv"
    write_users(first.values(), out)
    assert users(out) == first


def test_writer_streams_with_known_attributes(tmp_path):
    path = tmp_path / "s.csv"
    generated = (UserRow(email=f"u{i}@example.com", attributes={"n": str(i)}) for i in range(5))
    write_users(generated, path, attributes=["n"])
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith(",status,attr:n")
    assert users(path)["u4@example.com"].attributes == {"n": "4"}


ITEMS = [
    PlanItem(action="create", email="a@example.com", row=2),
    PlanItem(
        action="update",
        email="b@example.com",
        row=3,
        changes={"title": {"from": None, "to": "CTO"}},
    ),
    PlanItem(
        action="error", email="", row=4, errors=["row 4, column 'email': not valid (value: c***)"]
    ),
    PlanItem(action="deactivate", email="d@example.com", reason="not in the file (mode sync)"),
]


def test_report_csv(tmp_path):
    with ReportWriter(tmp_path / "r.csv") as report:
        for item in ITEMS:
            report.write(item)
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8-sig", newline="")))
    assert [r["action"] for r in rows] == ["create", "update", "error", "deactivate"]
    assert rows[1]["changes"] == "title: (empty) → CTO"
    assert rows[2]["errors"].endswith("(value: c***)")
    assert rows[3]["row"] == "" and rows[3]["reason"].startswith("not in the file")


def test_report_json(tmp_path):
    with ReportWriter(tmp_path / "r.json") as report:
        for item in ITEMS:
            report.write(item)
    data = json.loads((tmp_path / "r.json").read_text())
    assert [d["row"] for d in data] == [2, 3, 4, None]
    assert data[1]["changes"] == {"title": {"from": None, "to": "CTO"}}
    with ReportWriter(tmp_path / "empty.json"):
        pass
    assert json.loads((tmp_path / "empty.json").read_text()) == []


def test_report_needs_a_known_format(tmp_path):
    with pytest.raises(UsageError):
        ReportWriter(tmp_path / "r.xlsx")


DANGEROUS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(1)",
]


def test_every_cell_a_spreadsheet_would_run_is_guarded_in_exports(tmp_path):
    """Phones included: a server may hold one that is not E.164 (from before it checked)."""
    rows = [
        UserRow(
            email=f"u{i}@example.com",
            phone=value,
            title=value,
            attributes={"a": value},
            status="active",
            role="member",
        )
        for i, value in enumerate(DANGEROUS)
    ]
    rows.append(
        UserRow(email="ok@example.com", phone="+41446681800", status="active", role="member")
    )
    path = tmp_path / "out.csv"
    write_users(rows, path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh))
    for record, value in zip(table, DANGEROUS):
        for column in ("phone", "title", "attr:a"):
            assert record[column] == "'" + value, (column, record[column])
    assert table[-1]["phone"] == "+41446681800"  # E.164 stays as it is


def test_report_cells_are_guarded(tmp_path):
    path = tmp_path / "report.csv"
    with ReportWriter(path) as report:
        report.write(
            PlanItem(
                action="create",
                email="=cmd|' /C calc'!A0@x.example",
                row=2,
                reason="@SUM(1)",
                errors=["＝HYPERLINK(1)"],
            ),
            "rejected",
        )
    with open(path, encoding="utf-8-sig", newline="") as fh:
        record = next(csv.DictReader(fh))
    assert record["email"].startswith("'=") and record["reason"].startswith("'@")
    assert record["errors"].startswith("'＝")

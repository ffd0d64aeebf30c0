"""Header matching: Qylon's names, the Google / Entra / Okta templates, --map, attr: columns."""

from __future__ import annotations

from datetime import date

import pytest
from qylon_admin.users import columns

from qylon_cli.errors import InvalidInput, UsageError

from .users_helpers import CSV_DIR, check, users, write

PEOPLE = {"lea.muller", "jose.nunez", "zoe.angstrom", "francois.lefevre", "chiara.damico"}


def test_names_match_ignoring_case_spaces_and_punctuation():
    cmap = columns.resolve(
        ["E-Mail Address", "FIRST NAME", "last_name", "displayName", " Start Date ", "Job Title"]
    )
    assert {k: v[0] for k, v in cmap.fields.items()} == {
        "email": 0,
        "first_name": 1,
        "last_name": 2,
        "display_name": 3,
        "start_date": 4,
        "title": 5,
    }


def test_google_workspace_template():
    _, result, items, _ = check(CSV_DIR / "google_workspace_bulk_upload.csv")
    assert result.ok and result.source.encoding_label == "UTF-8 with BOM"
    got = {u.email: u for _, u in result.users() if u}
    assert {e.split("@")[0] for e in got} == PEOPLE
    lea = got["lea.muller@example.org"]
    assert (lea.first_name, lea.last_name, lea.display_name) == ("Léa", "Müller", "Léa Müller")
    assert lea.title == "Staff Engineer" and lea.department == "Engineering"
    assert lea.manager == "francois.lefevre@example.org"  # Manager Email, a row of the same file
    assert lea.phone == "+447700900301"  # Mobile Phone before Work Phone
    assert got["francois.lefevre@example.org"].phone == "+447700900303"
    ignored = dict(result.columns.ignored)
    assert ignored["Password [Required]"] == "passwords are never imported"
    assert "Org Unit Path [Required]" in ignored
    assert result.columns.unknown == []
    assert [i.action for i in items] == ["create"] * 5


def test_entra_bulk_create_template():
    source, result, _, _ = check(CSV_DIR / "entra_bulk_create.csv")
    assert result.ok and source.header_row == 2 and source.skipped_examples == [3]
    got = {u.email: u for _, u in result.users() if u}
    assert {e.split("@")[0] for e in got} == PEOPLE
    jose = got["jose.nunez@example.com"]
    assert jose.display_name == "José Núñez" and jose.location == "Madrid Office"
    assert jose.phone == "+12025550145"  # Mobile phone first
    assert got["francois.lefevre@example.com"].phone == "+447700900203"  # no mobile: Office phone
    # "Block sign in" = Yes means the account is blocked: suspended.
    assert got["chiara.damico@example.com"].status == "suspended"
    assert jose.status == "active"
    assert "Initial password [passwordProfile] Required" in dict(result.columns.ignored)


@pytest.mark.parametrize("name", ["entra_bulk_invite.csv", "entra_bulk_delete.csv"])
def test_entra_invite_and_delete_templates(name):
    source, result, _, _ = check(CSV_DIR / name)
    assert result.ok and source.skipped_examples == [3]
    assert len([u for _, u in result.users() if u]) == 5


def test_okta_template():
    _, result, _, _ = check(CSV_DIR / "okta_user_import.csv")
    assert result.ok
    got = {u.email: u for _, u in result.users() if u}
    assert {e.split("@")[0] for e in got} == PEOPLE
    chiara = got["chiara.damico@example.com"]
    assert (
        chiara.location == "Rome"
        and chiara.title == "Office Manager"
        and chiara.phone == "+12025550146"
    )
    # Okta's manager column is a display name ("Inès Belkacem"): not used as an email.
    assert chiara.manager is None
    assert dict(result.columns.ignored)["manager"] == columns.OKTA_MANAGER
    assert "login" in result.columns.describe()["fields"]["email"]


def test_same_people_across_vendors():
    def people(name):
        return {
            u.email.split("@")[0]: (u.first_name, u.last_name, u.title)
            for u in users(CSV_DIR / name).values()
        }

    google = people("google_workspace_bulk_upload.csv")
    assert people("okta_user_import.csv") == google == people("entra_bulk_create.csv")


def test_map_overrides_and_attributes(tmp_path):
    path = write(
        tmp_path / "hr.csv",
        "Work Mail,Boss,Joined,Cost Centre,attr:badge,Shoe size,email\n"
        "ann@example.com,,2026-03-15,CC-1,B7,42,other@example.com\n",
    )
    got = users(
        path,
        mapping=[
            "work mail=email",
            "JOINED=start_date",
            "Cost Centre=attr:cost_center",
            "email=ignore",
        ],
    )
    ann = got["ann@example.com"]
    assert ann.start_date == date(2026, 3, 15)
    assert ann.attributes == {"badge": "B7", "cost_center": "CC-1"}
    _, result, _, _ = check(path, mapping=["Work Mail=email"])
    assert result.columns.unknown == ["Boss", "Joined", "Cost Centre", "Shoe size"]
    assert ("email", "--map chose another column for email") in result.columns.ignored


def test_map_errors():
    with pytest.raises(UsageError, match="COLUMN=FIELD"):
        columns.parse_overrides(["email"])
    with pytest.raises(UsageError, match="unknown field"):
        columns.parse_overrides(["Mail=e_mail"])
    with pytest.raises(UsageError, match="attribute names"):
        columns.parse_overrides(["Mail=attr:has space"])
    with pytest.raises(UsageError, match="does not have"):
        columns.resolve(["email"], columns.parse_overrides(["Mial=email"]))


def test_no_email_column_is_invalid_input():
    with pytest.raises(InvalidInput) as err:
        columns.resolve(["Name", "Phone"])
    assert err.value.code == "no_email_column" and "--map" in err.value.hint


def test_duplicate_header_and_status_sources():
    cmap = columns.resolve(["email", "Email", "status", "Block sign in (Yes/No) [accountEnabled]"])
    assert cmap.fields["email"] == [0] and "blocked" not in cmap.fields
    assert ("Email", "the same column appears earlier") in cmap.ignored

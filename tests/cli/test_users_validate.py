"""Every validation error, with row, column, plain message and masked value; the field rules."""

from __future__ import annotations

import random
from datetime import date

import pytest
from qylon_admin.users import fields
from qylon_admin.users.mask import mask_email, mask_phone

from .users_helpers import check, codes, write

HEADER = "email,first_name,last_name,role,manager,start_date,phone,status,title,attr:badge\n"


def run(tmp_path, body: str, header: str = HEADER, **options):
    path = write(tmp_path / "u.csv", header + body)
    _, result, items, planner = check(path, **options)
    return result, items, planner


def only(result, code):
    found = [e for e in result.errors if e.code == code]
    assert found, f"no {code} in {codes(result)}"
    return found[0]


def test_a_clean_file_has_no_errors(tmp_path):
    result, items, _ = run(
        tmp_path,
        "ann@example.com,Ann,Lee,owner,,2026-03-15,+447700900123,active,CTO,B1\n"
        "bob@example.com,Bob,Ray,member,ann@example.com,,,,,\n",
    )
    assert result.ok and [i.action for i in items] == ["create", "create"]
    bob = items[1].user
    assert bob.manager == "ann@example.com" and bob.role == "member" and bob.status is None


@pytest.mark.parametrize(
    ("row", "code", "column", "message_part", "value"),
    [
        (",Ann,Lee,,,,,,,", "email_missing", "email", "every user needs one", None),
        ("ann.example.com,,,,,,,,,", "email_invalid", "email", "@-sign", "a***"),
        (
            "ann@example..com,,,,,,,,,",
            "email_invalid",
            "email",
            "not a valid email",
            "a***@example..com",
        ),
        (
            "ann@example.com,,,boss,,,,,,",
            "role_invalid",
            "role",
            "owner, admin, manager, member",
            "boss",
        ),
        (
            "ann@example.com,,,,not-an-email,,,,,",
            "manager_invalid",
            "manager",
            "not a valid email",
            "n***",
        ),
        (
            "ann@example.com,,,,ANN@example.com,,,,,",
            "manager_self",
            "manager",
            "their own manager",
            "A***@example.com",
        ),
        (
            "ann@example.com,,,,,31/31/2026,,,,",
            "date_invalid",
            "start_date",
            "not a real date",
            "31/31/2026",
        ),
        (
            "ann@example.com,,,,,2026-02-30,,,,",
            "date_invalid",
            "start_date",
            "not a real date",
            "2026-02-30",
        ),
        ("ann@example.com,,,,,soon,,,,", "date_invalid", "start_date", "YYYY-MM-DD", "soon"),
        (
            "ann@example.com,,,,,03/04/2026,,,,",
            "date_ambiguous",
            "start_date",
            "--date-order",
            "03/04/2026",
        ),
        (
            "ann@example.com,,,,,1850-01-01,,,,",
            "date_out_of_range",
            "start_date",
            "between 1900 and 2100",
            "1850-01-01",
        ),
        (
            "ann@example.com,,,,,,020 7946 0018,,,",
            "phone_no_country",
            "phone",
            "--region",
            "*********18",
        ),
        (
            "ann@example.com,,,,,,+44 12,,,",
            "phone_invalid",
            "phone",
            "wrong number of digits",
            "+**12",
        ),
        ("ann@example.com,,,,,,call me,,,", "phone_invalid", "phone", "not a phone number", ""),
        ("ann@example.com,,,,,,,gone,,", "status_invalid", "status", "active or suspended", "gone"),
        (
            "ann@example.com," + "A" * 101 + ",,,,,,,,",
            "too_long",
            "first_name",
            "the limit is 100",
            "A" * 101,
        ),
        (
            'ann@example.com,,,,,,,,"CTO\nand CFO",',
            "line_break",
            "title",
            "line break",
            "CTO\r\nand CFO",
        ),
        (
            "ann@example.com,,,,,,,,," + "x" * 1001,
            "too_long",
            "attr:badge",
            "the limit is 1000",
            None,
        ),
        ("ann@example.com,,,,,,,,,,surprise", "extra_cells", None, "header has 10", None),
    ],
)
def test_each_error(tmp_path, row, code, column, message_part, value):
    result, items, _ = run(tmp_path, row + "\n")
    error = only(result, code)
    assert error.row == 2
    assert error.column == column
    assert message_part in error.message
    if value is not None:
        assert error.value == value
    assert items[0].action == "error" and items[0].errors
    assert not result.ok


def test_duplicate_emails_name_the_first_row(tmp_path):
    result, _, _ = run(
        tmp_path, "ann@example.com,,,,,,,,,\nbob@example.com,,,,,,,,,\nANN@Example.com,,,,,,,,,\n"
    )
    error = only(result, "email_duplicate")
    assert (error.row, error.value) == (4, "A***@Example.com")
    assert "row 2" in error.message


def test_managers_must_exist_in_the_file_or_already(tmp_path):
    body = "ann@example.com,,,,boss@example.com,,,,,\nbob@example.com,,,,old@example.com,,,,,\n"
    result, _, _ = run(tmp_path, body)
    assert codes(result) == [(2, "manager_not_found"), (3, "manager_not_found")]
    assert result.errors[0].column == "manager"
    existing = [{"email": "boss@example.com"}, {"email": "old@example.com", "role": "owner"}]
    result, items, _ = run(tmp_path, body, existing=existing)
    assert result.ok and [i.action for i in items] == ["create", "create"]


def test_manager_cycles_are_errors_on_every_row_of_the_loop(tmp_path):
    body = (
        "a@example.com,,,,b@example.com,,,,,\n"
        "b@example.com,,,,c@example.com,,,,,\n"
        "c@example.com,,,,a@example.com,,,,,\n"
        "d@example.com,,,,a@example.com,,,,,\n"
    )
    result, _, _ = run(tmp_path, body)
    # d reports into the loop without being part of it: its manager's row is rejected
    assert codes(result) == [
        (2, "manager_cycle"),
        (3, "manager_cycle"),
        (4, "manager_cycle"),
        (5, "manager_rejected"),
    ]
    assert "row 2 → row 3 → row 4 → row 2" in result.errors[0].message


def test_cycles_through_existing_users(tmp_path):
    # The file makes x report to y; y already reports to x on the server.
    existing = [{"email": "y@example.com", "manager": "x@example.com"}, {"email": "x@example.com"}]
    result, _, _ = run(tmp_path, "x@example.com,,,,y@example.com,,,,,\n", existing=existing)
    error = only(result, "manager_cycle")
    assert "row 2 → an existing user → row 2" in error.message


def test_rows_whose_manager_is_rejected_cannot_go_ahead(tmp_path):
    body = (
        "boss@example.com,,,chief,,,,,,\n"
        "ann@example.com,,,,boss@example.com,,,,,\n"
        "bob@example.com,,,,ann@example.com,,,,,\n"
    )
    result, _, _ = run(tmp_path, body)
    assert codes(result) == [(2, "role_invalid"), (3, "manager_rejected"), (4, "manager_rejected")]
    assert "row 2" in result.errors[1].message


def test_entra_block_sign_in_values(tmp_path):
    header = "User name [userPrincipalName],Block sign in (Yes/No) [accountEnabled]\n"
    result, items, _ = run(
        tmp_path, "a@example.com,Yes\nb@example.com,no\nc@example.com,maybe\n", header=header
    )
    assert [i.user.status for i in items[:2]] == ["suspended", "active"]
    assert only(result, "status_invalid").row == 4


def test_error_values_of_names_are_not_masked_but_emails_and_phones_are(tmp_path):
    result, _, _ = run(tmp_path, "zoë.müller@exämple,Zoë,,,,,+1 202 555 01,,,\n")
    by_code = {e.code: e for e in result.errors}
    assert by_code["email_invalid"].value.startswith("z***@")
    assert "555" not in by_code["phone_invalid"].value


def test_masking():
    assert mask_email("jose.nunez@example.com") == "j***@example.com"
    assert mask_email("nobody") == "n***"
    assert mask_email("@example.com") == "***@example.com"
    assert mask_phone("+44 7700 900201") == "+**********01"
    assert mask_phone("12") == "**"


def test_errors_are_capped_but_counted(tmp_path):
    path = write(
        tmp_path / "many.csv",
        "email,role\n" + "".join(f"u{i}@example.com,boss\n" for i in range(50)),
    )
    _, result, _, _ = check(path, max_errors=10)
    assert result.error_count == 50 and len(result.errors) == 10 and len(result.error_rows) == 50


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-15", "auto", date(2026, 3, 15)),
        ("2026/03/15", "auto", date(2026, 3, 15)),
        ("2026.3.5", "auto", date(2026, 3, 5)),
        ("20260315", "auto", date(2026, 3, 15)),
        ("2026-03-15T09:00:00Z", "auto", date(2026, 3, 15)),
        ("2026-03-15 00:00:00", "auto", date(2026, 3, 15)),
        ("15.03.2026", "auto", date(2026, 3, 15)),
        ("05.03.2026", "mdy", date(2026, 3, 5)),  # dots are always day.month
        ("15.03.26", "auto", date(2026, 3, 15)),
        ("03/15/2026", "auto", date(2026, 3, 15)),
        ("15/03/2026", "auto", date(2026, 3, 15)),
        ("3/15/2026 0:00", "auto", date(2026, 3, 15)),
        ("15-03-2026", "auto", date(2026, 3, 15)),
        ("03/04/2026", "dmy", date(2026, 4, 3)),
        ("03/04/2026", "mdy", date(2026, 3, 4)),
        ("04/04/2026", "auto", date(2026, 4, 4)),  # both readings agree
        ("46096", "auto", date(2026, 3, 15)),  # Excel serial
        ("46096.75", "auto", date(2026, 3, 15)),
        ("15 Mar 2026", "auto", date(2026, 3, 15)),
        ("March 15, 2026", "auto", date(2026, 3, 15)),
        ("15-Mar-26", "auto", date(2026, 3, 15)),
        ("1/2/98", "mdy", date(1998, 1, 2)),
    ],
)
def test_start_date_formats(text, order, expected):
    assert fields.start_date(text, order=order) == expected


def test_ambiguous_dates_need_an_order(tmp_path):
    body = "ann@example.com,,,,,03/04/2026,,,,\n"
    result, _, _ = run(tmp_path, body)
    assert codes(result) == [(2, "date_ambiguous")]
    result, items, _ = run(tmp_path, body, date_order="dmy")
    assert items[0].user.start_date == date(2026, 4, 3)


def test_phones_are_e164_with_a_default_region(tmp_path):
    result, items, _ = run(
        tmp_path,
        "ann@example.com,,,,,,020 7946 0018,,,\nbob@example.com,,,,,,+1 (202) 555-0143,,,\n",
        region="gb",
    )
    assert result.ok
    assert [i.user.phone for i in items] == ["+442079460018", "+12025550143"]
    with pytest.raises(Exception, match="Unknown region"):
        run(tmp_path, "ann@example.com,,,,,,,,,\n", region="XX")


def test_email_fast_path_agrees_with_email_validator():
    from email_validator import EmailNotValidError, validate_email

    samples = [
        "Ann.Lee@Example.COM",
        "a+tag@example.com",
        "o'brien@example.ie",
        "x@sub.example.co.uk",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@localhost",
        "a@example",
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "zoë@example.com",
        "a@exämple.com",
        "a b@example.com",
        "a@-example.com",
        "a@example.com.",
        '"q"@example.com',
        "a@[127.0.0.1]",
        "user@" + "d" * 250 + ".com",
        "{}|~@example.org",
        "a@invalid",
        "a@example.test",
    ]
    for sample in samples:
        try:
            expected = validate_email(sample, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            expected = None
        for _ in range(2):  # second time through the domain cache
            try:
                got = fields.email(sample)
            except fields.Bad:
                got = None
            assert got == expected, sample


def test_phone_fast_path_agrees_with_phonenumbers():
    rng = random.Random(7)
    prefixes = [
        "+44 7700 900",
        "+1 202 555 0",
        "+33 6 12 34 ",
        "+39 06 698",
        "+49 30 901820",
        "+81 3 1234 ",
        "+52 1 55 1234 ",
        "+54 9 11 1234 ",
        "+354 5",
        "+61 4 1234 ",
    ]
    for _ in range(600):
        number = rng.choice(prefixes) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(1, 5))
        )
        try:
            expected = fields._parse_phone(number, None)
        except fields.Bad:
            expected = None
        try:
            got = fields.phone(number, region=None)
        except fields.Bad:
            got = None
        assert got == expected, number

"""Reading user CSVs: encodings, delimiters, quoted newlines, Entra's version line, row numbers."""

from __future__ import annotations

import codecs

import pytest
from qylon_admin.users import reader

from qylon_cli.errors import InvalidInput, NotFound

from .users_helpers import check, users, write

PEOPLE = "email;first_name;last_name\nzoe@example.com;Zoë;Müller\njose@example.com;José;Núñez\n"


def names(path):
    return {email: (u.first_name, u.last_name) for email, u in users(path).items()}


EXPECTED = {"zoe@example.com": ("Zoë", "Müller"), "jose@example.com": ("José", "Núñez")}


@pytest.mark.parametrize(
    ("encoding", "bom", "label"),
    [
        ("utf-8", b"", "UTF-8"),
        ("utf-8", codecs.BOM_UTF8, "UTF-8 with BOM"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 LE with BOM"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 BE with BOM"),
        ("utf-16-le", b"", "UTF-16 LE"),
        ("cp1252", b"", "Windows-1252"),
    ],
)
def test_encodings_are_detected(tmp_path, encoding, bom, label):
    path = write(tmp_path / "people.csv", PEOPLE, encoding, bom)
    source = reader.open_source(path)
    assert source.encoding_label == label
    assert source.header == ["email", "first_name", "last_name"]  # no BOM left in the first name
    assert names(path) == EXPECTED


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path):
    # Excel's "Unicode text": UTF-16 LE with BOM, tab-separated, CRLF.
    path = write(
        tmp_path / "export.txt", PEOPLE.replace(";", "\t"), "utf-16-le", codecs.BOM_UTF16_LE
    )
    source = reader.open_source(path)
    assert source.delimiter == "\t" and source.delimiter_name == "tab"
    assert names(path) == EXPECTED


def test_cp1252_is_chosen_when_the_file_is_not_utf8_even_late(tmp_path):
    # The only non-ASCII byte sits far beyond the first chunk: the whole file is checked.
    filler = "".join(f"user{i}@example.com;Ann;Lee\n" for i in range(60_000))
    path = write(
        tmp_path / "late.csv",
        "email;first_name;last_name\n" + filler + "zoe@example.com;Zoë;Müller\n",
        "cp1252",
    )
    assert reader.detect_encoding(path) == "cp1252"
    assert users(path)["zoe@example.com"].last_name == "Müller"


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"email,first_name\nx@example.com,A\x81b\n")
    assert reader.detect_encoding(path) == "latin-1"
    assert users(path)["x@example.com"].first_name == "A\x81b"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_detected(tmp_path, delimiter):
    text = (
        f"email{delimiter}display_name{delimiter}title\n"
        f'a@example.com{delimiter}"Lee, Ann; Jr"{delimiter}CTO\n'
    )
    path = write(tmp_path / "d.csv", text)
    assert reader.open_source(path).delimiter == delimiter
    assert users(path)["a@example.com"].display_name == "Lee, Ann; Jr"


def test_delimiter_inside_quoted_header_does_not_count():
    assert reader.detect_delimiter('"a;b;c;d",e,f') == ","
    assert reader.detect_delimiter("email") == ","


def test_quoted_newlines_keep_spreadsheet_row_numbers(tmp_path):
    text = (
        "email,attr:notes,role\n"
        'a@example.com,"line one\nline two\nline three",member\n'
        "b@example.com,plain,chief\n"
    )
    path = write(tmp_path / "q.csv", text)
    _, result, _, _ = check(path)
    # b is on spreadsheet row 3 although it starts on line 5 of the file
    assert [(e.row, e.code, e.column) for e in result.errors] == [(3, "role_invalid", "role")]
    with result:
        got = {u.email: u for _, u in result.users() if u}
    assert got["a@example.com"].attributes == {"notes": "line one\nline two\nline three"}


@pytest.mark.parametrize("version", ["version:v1.0", "version:v1.0,,,,", "Version:V1.0"])
def test_entra_version_line_is_row_1(tmp_path, version):
    text = (
        f"{version}\n"
        "Name [displayName] Required,User name [userPrincipalName] Required\n"
        "Example: Chris Green, chris@contoso.com\n"
        "Ann Lee,ann@example.com\n"
        "Bob Ray,not-an-email\n"
    )
    path = write(tmp_path / "entra.csv", text)
    source, result, _, _ = check(path)
    assert source.version_line.lower() == "version:v1.0"
    assert source.header_row == 2
    assert source.skipped_examples == [3]
    assert [(e.row, e.code) for e in result.errors] == [(5, "email_invalid")]
    assert result.rows_read == 2


def test_blank_lines_count_as_rows_but_are_skipped(tmp_path):
    path = write(
        tmp_path / "b.csv",
        "email,role\n\na@example.com,member\n,\nb@example.com,boss\n",
        newline="\n",
    )
    _, result, _, _ = check(path)
    assert result.rows_read == 2
    assert [(e.row, e.code) for e in result.errors] == [(5, "role_invalid")]


def test_lf_and_crlf_read_the_same(tmp_path):
    a = write(tmp_path / "lf.csv", PEOPLE, newline="\n")
    b = write(tmp_path / "crlf.csv", PEOPLE, newline="\r\n")
    assert names(a) == names(b) == EXPECTED


def test_forced_encoding_and_delimiter(tmp_path):
    path = write(tmp_path / "f.csv", "email|first_name\na@example.com|Zoë\n", "cp1252")
    source = reader.open_source(path, encoding="cp1252", delimiter="|")
    assert source.header == ["email", "first_name"]
    assert list(source.rows()) == [(2, ["a@example.com", "Zoë"])]


def test_empty_missing_and_broken_files(tmp_path):
    with pytest.raises(NotFound):
        reader.open_source(tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="empty"):
        reader.open_source(write(tmp_path / "e.csv", "\n\n"))
    with pytest.raises(InvalidInput, match="no header"):
        reader.open_source(write(tmp_path / "v.csv", "version:v1.0\n"))
    with pytest.raises(InvalidInput, match="Unknown encoding"):
        reader.open_source(write(tmp_path / "ok.csv", PEOPLE), encoding="klingon")
    huge = write(
        tmp_path / "huge.csv",
        'email,attr:notes\na@example.com,x\nb@example.com,"' + "x" * 200_000 + '"\n',
    )
    with pytest.raises(InvalidInput) as err:
        list(reader.open_source(huge).rows())
    assert "row 3" in err.value.message and err.value.code == "csv_unreadable"

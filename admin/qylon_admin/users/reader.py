"""Read a user CSV as spreadsheets and directories write it, one row at a time.

- Encoding: a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32); without one the
  whole file is checked as UTF-8 in chunks (constant memory), a file of mostly NUL-paired
  bytes is UTF-16 without a mark, and anything else is Windows-1252 (Excel's "CSV" on
  Western Windows) — Latin-1 if it holds the five bytes Windows-1252 leaves undefined.
- Delimiter: comma, semicolon or tab, whichever the header line has most of outside
  quotes (comma on a tie or a single-column file).
- Microsoft Entra ID's ``version:v1.0`` line above the header is recognised (also with
  the trailing delimiters a spreadsheet adds when it re-saves), and the ``Example:`` row
  of its templates is skipped.
- Row numbers are those a spreadsheet shows: each record is one row, whatever line
  breaks its quoted cells hold; blank lines count but are skipped.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qylon_cli.errors import InvalidInput, NotFound

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_CHUNK = 1 << 20
_VERSION_LINE = re.compile(r"^\s*version\s*:\s*v\d+(\.\d+)?\s*$", re.IGNORECASE)
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE with BOM"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE with BOM"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE with BOM"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE with BOM"),
)
_LABELS = {
    "utf-8": "UTF-8",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
}


@dataclass
class Source:
    """A CSV file opened for reading: what was detected, and its rows on demand."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    header_row: int
    version_line: str | None = None
    encoding_label: str = ""
    skipped_examples: list[int] = field(default_factory=list)
    bytes_read: int = 0  # how far the last rows() got in the file (for progress)

    @property
    def delimiter_name(self) -> str:
        return DELIMITERS.get(self.delimiter, repr(self.delimiter))

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        with open(self.path, encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=False)
            number = 0
            raw = handle.buffer
            try:
                for number, cells in enumerate(reader, start=1):
                    if not number % 1000:
                        self.bytes_read = raw.tell()
                    yield number, cells
                self.bytes_read = self.path.stat().st_size
            except csv.Error as exc:
                raise InvalidInput(
                    f"{self.path.name}: row {number + 1} cannot be read as CSV: {exc}.",
                    hint='Check the quotes on that row (a quote inside a cell is written twice: "").',
                    code="csv_unreadable",
                ) from exc
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    f"{self.path.name}: row {number + 1} is not valid {self.encoding}: {exc.reason}.",
                    hint="Save the file as UTF-8, or name its encoding with --encoding.",
                    code="csv_encoding",
                ) from exc

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(row number, cells)`` for every data row, streaming from disk.

        Blank rows and Entra's ``Example:`` rows are skipped (the latter noted in
        ``skipped_examples``). Each call reads the file again from the start.
        """
        self.skipped_examples = []
        for number, cells in self._records():
            if number <= self.header_row:
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if cells and cells[0].lstrip().lower().startswith("example:"):
                self.skipped_examples.append(number)
                continue
            yield number, cells


def detect_encoding(path: Path) -> str:
    """The encoding of ``path`` (a Python codec name) by the rules in this module's docstring."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        for bom, name, _ in _BOMS:
            if head.startswith(bom):
                return name
        handle.seek(0)
        first = handle.read(_CHUNK)
        if _looks_utf16(first):
            return "utf-16-le" if first[1:2] == b"\0" else "utf-16-be"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk, undefined = first, False
        utf8 = True
        while chunk:
            undefined = undefined or bool(_CP1252_UNDEFINED.search(chunk))
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            chunk = handle.read(_CHUNK)
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8"
    return "latin-1" if undefined else "cp1252"


def _looks_utf16(sample: bytes) -> bool:
    sample = sample[:4096]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 4:
        return False
    nul_even = sample[0::2].count(0)
    nul_odd = sample[1::2].count(0)
    half = len(sample) // 2
    return max(nul_even, nul_odd) > 0.4 * half and min(nul_even, nul_odd) < 0.05 * half


def detect_delimiter(line: str) -> str:
    """Comma, semicolon or tab: the one the line has most of outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _first_lines(path: Path, encoding: str, limit: int = 3) -> list[str]:
    lines: list[str] = []
    with open(path, encoding=encoding, newline="") as handle:
        for line in handle:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
            if len(lines) >= limit:
                break
    return lines


def open_source(
    path: str | Path, *, encoding: str | None = None, delimiter: str | None = None
) -> Source:
    """Open a user CSV: detect its encoding, delimiter, version line and header."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"No such file: {path}", hint="Check the path.", code="file_not_found")
    if encoding:
        _check_codec(encoding)
    enc = encoding or detect_encoding(path)
    version, header_line = _version_and_header_line(path, enc)
    source = Source(
        path=path,
        encoding=enc,
        delimiter=_one_char_delimiter(delimiter or detect_delimiter(header_line)),
        header=[],
        header_row=0,
        version_line=version,
        encoding_label=_LABELS.get(enc, enc) if encoding else _detected_label(path, enc),
    )
    _read_header(source)
    return source


def _check_codec(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise InvalidInput(
            f"Unknown encoding {encoding!r}.", hint="Try utf-8, utf-16 or cp1252."
        ) from exc


def _version_and_header_line(path: Path, encoding: str) -> tuple[str | None, str]:
    """Entra's ``version:v1.0`` line if the file starts with one (else None), and the first
    line of the header, from the file's first non-blank lines."""
    try:
        lines = _first_lines(path, encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not valid {encoding}: {exc.reason}.",
            hint="Name the file's encoding with --encoding.",
        ) from exc
    if not lines:
        raise InvalidInput(
            f"{path.name} is empty.", hint="A user CSV needs a header row.", code="csv_empty"
        )
    version = None
    if _VERSION_LINE.match(lines[0].rstrip(",;\t ")):
        version = lines[0].rstrip(",;\t ").strip()
        lines = lines[1:]
    if not lines:
        raise InvalidInput(
            f"{path.name} has no header row.",
            hint="A user CSV needs a header row.",
            code="csv_empty",
        )
    return version, lines[0]


def _one_char_delimiter(delimiter: str) -> str:
    """The delimiter as the csv module takes it (``tab`` and ``\\t`` name a tab)."""
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise InvalidInput(
            f"The delimiter must be one character, not {delimiter!r}.", hint="Use , ; or tab."
        )
    return delimiter


def _detected_label(path: Path, encoding: str) -> str:
    """How to show a detected encoding: its byte-order mark's name when it has one."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next(
        (text for bom, _, text in _BOMS if head.startswith(bom)), _LABELS.get(encoding, encoding)
    )


def _read_header(source: Source) -> None:
    """The header is the first non-blank record after the version line, if any."""
    for number, cells in source._records():
        if source.version_line and number == 1:
            continue
        if not any(cell.strip() for cell in cells):
            continue
        source.header = [cell.strip() for cell in cells]
        source.header_row = number
        break

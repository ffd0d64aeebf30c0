"""The subset of SOQL the Salesforce fake answers: ``SELECT f, ... FROM T [WHERE c [AND
c]...] [ORDER BY f [ASC|DESC]] [LIMIT n]``, each condition ``f = 'v'``, ``f = true`` or
``f IN ('a', ...)``; text compared case-insensitively, as SOQL compares it; an unknown
column refused with ``INVALID_FIELD``, as Salesforce does."""

from __future__ import annotations

import re

STRING = r"'(?:[^'\\]|\\.)*'"


def _unquote(literal: str):
    if literal.lower() in ("true", "false"):
        return literal.lower() == "true"
    if literal.startswith("'"):
        return re.sub(r"\\(.)", r"\1", literal[1:-1])
    return literal


class SoqlError(ValueError):
    def __init__(self, message: str, code: str = "MALFORMED_QUERY"):
        super().__init__(message)
        self.code = code


SOQL = re.compile(
    r"^SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<kind>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<dir>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _condition(text: str):
    m = re.fullmatch(rf"(\w+)\s*=\s*({STRING}|true|false|\d+)", text.strip(), re.IGNORECASE)
    if m:
        return m.group(1), {_norm(_unquote(m.group(2)))}
    m = re.fullmatch(rf"(\w+)\s+IN\s*\(\s*((?:{STRING}\s*,?\s*)+)\)", text.strip(), re.IGNORECASE)
    if m:
        return m.group(1), {_norm(_unquote(v)) for v in re.findall(STRING, m.group(2))}
    raise SoqlError(f"unexpected token in the condition: {text}")


def _norm(value):
    return value.lower() if isinstance(value, str) else value


def run_soql(
    soql: str, records: dict[str, dict[str, dict]], columns: dict[str, set[str]], *, version: str
) -> list[dict]:
    """The rows of ``records`` (by sObject type, then id) the query selects, as the query
    resource returns them (``attributes`` first), ``columns`` saying what each type has."""
    m = SOQL.match(soql.strip())
    if not m:
        raise SoqlError(f"unexpected token: {soql[:60]}")
    kind = m.group("kind")
    if kind not in columns:
        raise SoqlError(f"sObject type '{kind}' is not supported.", "INVALID_TYPE")
    fields = [f.strip() for f in m.group("fields").split(",")]
    conditions = []
    if m.group("where"):
        conditions = [
            _condition(c) for c in re.split(r"\s+AND\s+", m.group("where"), flags=re.IGNORECASE)
        ]
    for name in (
        fields + [c[0] for c in conditions] + ([m.group("order")] if m.group("order") else [])
    ):
        if name not in columns[kind]:
            raise SoqlError(f"No such column '{name}' on entity '{kind}'.", "INVALID_FIELD")
    rows = [
        r
        for r in records[kind].values()
        if all(_norm(r.get(f)) in allowed for f, allowed in conditions)
    ]
    if m.group("order"):
        rows.sort(key=lambda r: str(r.get(m.group("order")) or ""))
        if (m.group("dir") or "").upper() == "DESC":
            rows.reverse()
    if m.group("limit"):
        rows = rows[: int(m.group("limit"))]
    base = f"/services/data/v{version}/sobjects/{kind}"
    return [
        {"attributes": {"type": kind, "url": f"{base}/{r['Id']}"}, **{f: r.get(f) for f in fields}}
        for r in rows
    ]

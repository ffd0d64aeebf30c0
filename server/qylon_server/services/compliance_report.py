"""Compliance reports for a framework (GDPR, ISO 27001, SOC 2, HIPAA): every item that
counts for it, by person, with its status, due date, days overdue and evidence hash; and
a summary (a withdrawn item is listed as such, never overdue, and not counted as open).
As JSON, CSV, Markdown or PDF (fpdf2, imported only here)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from . import compliance

COLUMNS = (
    "email",
    "policy",
    "item",
    "title",
    "status",
    "due_date",
    "overdue_days",
    "completed_at",
    "evidence_sha256",
)


def build(session: Session, *, framework: str, on: date | None = None) -> dict:
    items = compliance.status(session, framework=framework, on=on)
    rows = [{c: item[c] for c in COLUMNS} for item in items]
    done = sum(1 for r in rows if r["status"] == "completed")
    withdrawn = sum(1 for r in rows if r["status"] == "withdrawn")  # needed no more
    overdue = sum(1 for r in rows if r["overdue_days"] > 0)
    return {
        "framework": framework,
        "date": (on or compliance.today()).isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": {
            "items": len(rows),
            "completed": done,
            "open": len(rows) - done - withdrawn,
            "overdue": overdue,
            "withdrawn": withdrawn,
            "people": len({r["email"] for r in rows}),
        },
        "rows": rows,
    }


def to_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _cell(value) -> str:
    return ("" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")


def _summary(report: dict) -> str:
    s = report["summary"]
    return (
        f"As of {report['date']}: {s['items']} item{'' if s['items'] == 1 else 's'} for "
        f"{s['people']} {'person' if s['people'] == 1 else 'people'}; "
        f"{s['completed']} completed, {s['open']} open, {s['overdue']} overdue"
        + (f", {s['withdrawn']} withdrawn." if s.get("withdrawn") else ".")
    )


def to_markdown(report: dict) -> str:
    lines = [
        f"# Compliance report: {report['framework']}",
        "",
        _summary(report),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(_cell(r[c]) for c in COLUMNS) + " |" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def to_pdf(report: dict) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_title(f"Compliance report: {report['framework']}")
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        0, 10, _latin(f"Compliance report: {report['framework']}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=10)
    pdf.cell(
        0,
        7,
        _latin(_summary(report)),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    shown = ("email", "policy", "item", "status", "due_date", "overdue_days", "evidence_sha256")
    pdf.set_font("Helvetica", size=7)
    with pdf.table(col_widths=(50, 42, 38, 18, 20, 14, 88), text_align="LEFT") as table:
        table.row([c.replace("_", " ") for c in shown])
        for r in report["rows"]:
            table.row([_latin(_cell(r[c])) for c in shown])
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """The core fonts hold Latin-1 only."""
    return text.encode("latin-1", "replace").decode("latin-1")


FORMATS = {
    "csv": ("text/csv; charset=utf-8", to_csv),
    "md": ("text/markdown; charset=utf-8", to_markdown),
    "pdf": ("application/pdf", to_pdf),
}

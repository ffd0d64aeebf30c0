"""Writing a report: ``table`` (Rich, for people), ``json`` (``{"data": ...}``), ``csv``
(one tidy table: section, label, column, value), ``md`` (Markdown tables), ``html`` (one
self-contained page: the tables, each chart as inline SVG, the JSON it was drawn from)
and ``png`` (the charts). CSV, Markdown and HTML go to stdout or ``-o FILE``; a PNG needs
``-o FILE`` on a terminal."""

from __future__ import annotations

import csv
import io
import json
import sys
from html import escape
from pathlib import Path

from .layout import Report, Table, layout

FORMATS = ("table", "json", "csv", "md", "html", "png")
PERCENT_COLUMNS = {"Share", "Rate", "Lift"}


def cell(column: str, value) -> str:
    """A value as people read it: percentages for shares and rates, '–' for none."""
    if value is None:
        return "–"
    if column in PERCENT_COLUMNS and isinstance(value, int | float):
        return f"{value * 100:+.1f} %" if column == "Lift" else f"{value * 100:.1f} %"
    if column == "p-value" and isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "label", "column", "value"])
    for table in report.tables:
        for row in table.rows:
            for column, value in zip(table.columns[1:], row[1:], strict=True):
                writer.writerow([table.name, row[0], column, "" if value is None else value])
    return out.getvalue()


def _md_cell(column: str, value) -> str:
    return cell(column, value).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    parts = [f"# {report.title}", "", *(f"- {line}" for line in report.lines), ""]
    for table in report.tables:
        parts += [f"## {table.title}", ""]
        if not table.rows:
            parts += ["None.", ""]
            continue
        parts.append("| " + " | ".join(table.columns) + " |")
        parts.append("|" + "|".join("---" for _ in table.columns) + "|")
        for row in table.rows:
            cells = (_md_cell(c, v) for c, v in zip(table.columns, row, strict=True))
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


STYLE = """
  :root { color-scheme: light; --fg: #1b1b1f; --muted: #5a5a66; --line: #d9d9e0; }
  body { margin: 0; font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
  main { max-width: 52rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
  h1 { font-size: 1.5rem; margin: .5rem 0 .5rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
  .muted { color: var(--muted); } ul.lines { padding-left: 1.2rem; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
  td.n, th.n { text-align: right; }
  figure { margin: 1.5rem 0; } figure svg { max-width: 100%; height: auto; }
"""


def _html_table(table: Table) -> str:
    if not table.rows:
        return f"<h2>{escape(table.title)}</h2><p class='muted'>None.</p>"
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in table.rows)
        for i in range(len(table.columns))
    ]
    head = "".join(
        f"<th scope='col'{' class=n' if n else ''}>{escape(c)}</th>"
        for c, n in zip(table.columns, numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if n else ''}>{escape(cell(c, v))}</td>"
            for c, v, n in zip(table.columns, row, numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return (
        f"<h2 id='{table.name}'>{escape(table.title)}</h2>"
        f"<table data-table='{table.name}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def to_html(data: dict, report: Report) -> str:
    from . import charts

    figures = "".join(
        f"<figure data-chart='{c.name}' aria-label='{escape(c.title)}'>{charts.svg(c)}</figure>"
        for c in report.charts
    )
    lines = "".join(f"<li>{escape(line)}</li>" for line in report.lines)
    tables = "".join(_html_table(t) for t in report.tables)
    payload = json.dumps({"data": data}, ensure_ascii=False).replace("</", "<\\/")
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{escape(report.title)}</h1><ul class='lines muted'>{lines}</ul>"
        f"{figures}{tables}"
        f"<script type='application/json' id='report-data'>{payload}</script>"
        "</main></body></html>\n"
    )


def _rich(data: dict, report: Report) -> None:
    from rich.table import Table as RichTable

    from .. import output

    console = output.stdout()
    console.print(report.title, style="bold", markup=False)
    for line in report.lines:
        console.print(line, style="dim", markup=False, highlight=False)
    for table in report.tables:
        console.print()
        if not table.rows:
            console.print(f"{table.title}: none.", markup=False)
            continue
        shown = RichTable(title=table.title, title_justify="left", box=None, header_style="bold")
        for column in table.columns:
            shown.add_column(column)
        for row in table.rows:
            shown.add_row(*(cell(c, v) for c, v in zip(table.columns, row, strict=True)))
        console.print(shown)


def write(data: dict, fmt: str, destination: Path | None) -> None:
    """Render ``data`` (a report's JSON) as ``fmt``, to ``destination`` or stdout."""
    from .. import output
    from ..errors import UsageError

    if fmt == "json" or output.json_mode():
        if destination is not None:
            destination.write_text(json.dumps({"data": data}, indent=2) + "\n", encoding="utf-8")
            output.info(f"Wrote {destination}")
            return
        output.emit(data)
        return
    report = layout(data)
    if fmt == "table":
        _rich(data, report)
        return
    if fmt == "png":
        from . import charts

        if destination is None and sys.stdout.isatty():
            raise UsageError("A PNG is not for a terminal.", hint="Give -o FILE.png.")
        body = charts.png(report)
        if destination is None:
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
            return
        destination.write_bytes(body)
    else:
        text = {"csv": to_csv, "md": to_markdown}.get(fmt)
        body = text(report) if text else to_html(data, report)
        if destination is None:
            sys.stdout.write(body)
            sys.stdout.flush()
            return
        destination.write_text(body, encoding="utf-8")
    output.info(f"Wrote {destination}")

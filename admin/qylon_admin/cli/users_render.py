"""Draw a user-file preview (file summary, columns, plan, errors) for people."""

from __future__ import annotations

from rich.markup import escape

from ..users.report import changes_text


def _file_line(info: dict) -> str:
    parts = [
        f"{info['encoding']}",
        f"{info['delimiter']}-separated",
        f"header on row {info['header_row']}",
    ]
    if info["version_line"]:
        parts.append(f"Entra {info['version_line']} line")
    if info["skipped_example_rows"]:
        parts.append(
            "example row " + ", ".join(map(str, info["skipped_example_rows"])) + " skipped"
        )
    return f"[bold]{escape(info['file'])}[/]: {info['rows']} rows ({', '.join(parts)})"


def _columns(console, cols: dict) -> None:
    mapped = [
        f"{field} ← {' / '.join(escape(c) for c in names)}"
        for field, names in cols["fields"].items()
    ]
    mapped += [f"attr:{name} ← {escape(col)}" for name, col in cols["attributes"].items()]
    console.print("Columns: " + "; ".join(mapped))
    if cols["ignored"]:
        console.print(
            "[dim]Not used: "
            + "; ".join(f"{escape(i['column'])} ({i['reason']})" for i in cols["ignored"])
            + "[/]"
        )
    if cols["unknown"]:
        console.print(
            "[yellow]Unknown columns (not imported):[/] "
            + ", ".join(map(escape, cols["unknown"]))
            + "  [dim]map them with --map COLUMN=FIELD or COLUMN=attr:NAME[/]"
        )


def render(data: dict, console) -> None:
    console.print(_file_line(data["file"]))
    if data.get("deletes"):
        what = f"{data['template']} template" if data.get("template") else "--deactivate"
        console.print(f"[bold]{what}[/]: every row is a user to deactivate (never created)")
    _columns(console, data["file"]["columns"])
    counts = ", ".join(
        f"{n} {action}" for action, n in data["plan"].items() if n or action in ("create", "update")
    )
    how = "a delete file" if data.get("deletes") else f"mode {data['mode']}"
    console.print(f"\n[bold]Plan[/] ({how}): {counts}")
    for item in data["items"]:
        where = f"row {item['row']}" if item.get("row") else "—"
        detail = (
            changes_text(item.get("changes", {}), sep=", ", empty="∅") or item.get("reason") or ""
        )
        console.print(
            f"  {item['action']:<10} {where:<9} {escape(item['email'])}  [dim]{escape(detail)}[/]"
        )
    if data["items_truncated"]:
        console.print(
            "  [dim]… more not listed (--limit 0 lists all; --report FILE writes every row)[/]"
        )
    if data.get("new_groups"):
        console.print("  [bold]new groups[/] " + escape(", ".join(data["new_groups"])))
    if data["errors"]:
        shown = len(data["errors"])
        console.print(
            f"\n[bold red]Errors[/] ({data['error_count']}"
            + (f", first {shown} listed" if shown < data["error_count"] else "")
            + "):"
        )
        for error in data["errors"]:
            where = f"row {error['row']}" if error["row"] is not None else "file"
            column = f", {escape(error['column'])}" if error["column"] else ""
            value = f" [dim](value: {escape(error['value'])})[/]" if error["value"] else ""
            console.print(f"  {where}{column}: {escape(error['message'])}{value}")
    if data["report"]:
        console.print(f"\nReport: {escape(data['report'])}")

"""`qylon experiments create|start|stop|list|results`: A/B tests of onboarding sequences
and email templates on the team server (docs/experiments.md). Admins only."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output, paging
from qylon_cli.client import ApiClient

app = typer.Typer(
    help="A/B tests of sequences and templates: create, start, stop, list, results.\n\n"
    "Example: qylon experiments create welcome-subject --variants a=50,b=50 "
    "--on sequence:new-consultant",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The experiment's name (or id).", show_default=False)]


def _path(name: str, tail: str = "") -> str:
    from urllib.parse import quote

    return f"/v1/experiments/{quote(name.strip(), safe='')}{tail}"


def parse_variants(text: str) -> list[dict]:
    """``a=50,b=50`` -> ``[{"name": "a", "weight": 50.0}, ...]`` (the first is the control)."""
    from qylon_cli.errors import InvalidInput

    hint = "Give NAME=WEIGHT pairs separated by commas, the control first: a=50,b=50."
    variants = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, eq, weight = part.partition("=")
        try:
            value = float(weight) if eq else None
        except ValueError:
            value = None
        if not name.strip() or value is None or value <= 0:
            raise InvalidInput(f"--variants: {part!r} is not NAME=WEIGHT.", hint=hint)
        variants.append({"name": name.strip(), "weight": value})
    if len(variants) < 2:
        raise InvalidInput("--variants: an experiment needs two variants at least.", hint=hint)
    return variants


def parse_target(text: str) -> tuple[str, str]:
    """``sequence:new-consultant`` -> ("sequence", "new-consultant")."""
    from qylon_cli.errors import InvalidInput

    kind, colon, target = text.partition(":")
    if not colon or kind not in ("sequence", "template") or not target.strip():
        raise InvalidInput(
            f"--on: {text!r} names no sequence or template.",
            hint="Give sequence:NAME or template:NAME, e.g. --on sequence:new-consultant.",
        )
    return kind, target.strip()


def _said(item: dict) -> str:
    split = ", ".join(f"{v['name']}={v['weight']:g}" for v in item["variants"])
    return f"{item['name']} ({item['status']}) on {item['target_kind']} {item['target']}: {split}"


@app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="A new name: a-z, 0-9, '.', '_', '-'.")],
    variants: Annotated[
        str, typer.Option(help="NAME=WEIGHT pairs, the control first.", show_default=False)
    ],
    on: Annotated[
        str,
        typer.Option(help="What it varies: sequence:NAME or template:NAME.", show_default=False),
    ],
    min_sample: Annotated[
        int, typer.Option(min=1, help="Exposures per variant before results are reliable.")
    ] = 100,
    json: output.JsonOption = False,
) -> None:
    """Create an experiment, as a draft (nobody is exposed until `start`).

    Example: qylon experiments create welcome-subject --variants a=50,b=50 --on sequence:new-consultant --min-sample 200
    """
    kind, target = parse_target(on)
    body = {
        "name": name,
        "target_kind": kind,
        "target": target,
        "variants": parse_variants(variants),
        "min_sample": min_sample,
    }
    with ApiClient.from_credentials() as api:
        item = api.post("/v1/experiments", body)
    output.emit(item, lambda c: c.print(f"Created {_said(item)}.", markup=False))


def _move(name: str, verb: str) -> None:
    with ApiClient.from_credentials() as api:
        item = api.post(_path(name, f"/{verb}"), None)
    output.emit(item, lambda c: c.print(_said(item), markup=False))


@app.command("start")
def start_cmd(name: NameArg, json: output.JsonOption = False) -> None:
    """Start exposing people (again, after a stop); a running experiment stays as it is.

    Example: qylon experiments start welcome-subject
    """
    _move(name, "start")


@app.command("stop")
def stop_cmd(name: NameArg, json: output.JsonOption = False) -> None:
    """Stop exposing new people (they get the control); conversions still count.

    Example: qylon experiments stop welcome-subject
    """
    _move(name, "stop")


def _table(c, items: list[dict], total: int) -> None:
    from rich.table import Table
    from rich.text import Text

    if not items:
        c.print("No experiments.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Experiment", "Status", "On", "Variants", "Min sample"):
        table.add_column(col)
    for e in items:
        split = ", ".join(f"{v['name']}={v['weight']:g}" for v in e["variants"])
        on = f"{e['target_kind']}:{e['target']}"
        table.add_row(Text(e["name"]), e["status"], Text(on), Text(split), str(e["min_sample"]))
    c.print(table)
    if total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List the experiments by name, with their status and variants.

    Example: qylon experiments list --json
    """
    with ApiClient.from_credentials() as api:
        page = paging.fetch(api, "/v1/experiments", paginate=paginate, limit=limit, offset=offset)
    paging.emit(page, _table)


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f} %" if signed else f"{value * 100:.1f} %"


def _results(c, data: dict) -> None:
    from rich.table import Table

    exp = data["experiment"]
    c.print(_said(exp), markup=False)
    table = Table(box=None, header_style="bold")
    for col in ("Variant", "Exposures", "Conversions", "Rate", "Lift", "p-value", "95 % CI"):
        table.add_column(col)
    for v in data["variants"]:
        ci = v["ci"]
        table.add_row(
            v["name"] + (" (control)" if v["name"] == data["control"] else ""),
            str(v["exposures"]),
            str(v["conversions"]),
            _pct(v["rate"]),
            _pct(v["lift"], signed=True),
            "–" if v["p_value"] is None else f"{v['p_value']:.4f}",
            "–" if ci is None else f"{_pct(ci[0], signed=True)} to {_pct(ci[1], signed=True)}",
        )
    c.print(table)
    for warning in data["warnings"]:
        c.print(f"[yellow]Warning:[/] {warning}", highlight=False)


@app.command("results")
def results_cmd(name: NameArg, json: output.JsonOption = False) -> None:
    """Show each variant's exposures, conversions, rate, lift against the control, the
    two-proportion z-test's p-value and the 95 % confidence interval of the difference.

    Example: qylon experiments results welcome-subject --json
    """
    with ApiClient.from_credentials() as api:
        data = api.get(_path(name, "/results"))
    output.emit(data, lambda c: _results(c, data))

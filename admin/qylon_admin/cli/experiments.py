"""`qylon experiments create|start|stop|list|results`: A/B tests of onboarding sequences
and email templates on the team server (docs/experiments.md). Admins only."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output, paging
from qylon_cli.client import ApiClient

app = typer.Typer(
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


def _pairs(option: str, given: list[str] | None, variants: list[dict]) -> dict[str, str]:
    """``["b=new-consultant-short"]`` -> ``{"b": "new-consultant-short"}``, each naming a
    variant of ``--variants`` once."""
    from qylon_cli.errors import InvalidInput

    names, out = {v["name"] for v in variants}, {}
    for text in given or ():
        variant, eq, value = (p.strip() for p in text.partition("="))
        if not eq or not value or variant not in names or variant in out:
            raise InvalidInput(
                f"{option}: {text!r} is not VARIANT=VALUE for a variant of --variants (once).",
                hint=f"e.g. {option} b=... with --variants a=50,b=50.",
            )
        out[variant] = value
    return out


def _goal(item: dict) -> str:
    """``compliance.item_completed item_key=security-training``"""
    where = (f" {k}={str(v).lower() if isinstance(v, bool) else v}"
             for k, v in (item.get("goal_where") or {}).items())  # fmt: skip
    return item["goal"] + "".join(where)


def _where(given: list[str] | None) -> dict[str, str | int | bool] | None:
    """``["item_key=security-training", "rung=2"]`` -> their dict; integers and
    true/false become numbers and booleans, as the events' data holds them."""
    from qylon_cli.errors import InvalidInput

    out: dict[str, str | int | bool] = {}
    for text in given or ():
        key, eq, value = (p.strip() for p in text.partition("="))
        if not eq or not key or key in out:
            raise InvalidInput(
                f"--goal-where: {text!r} is not KEY=VALUE (each key once).",
                hint="e.g. --goal-where item_key=security-training",
            )
        lowered = value.lower()
        out[key] = (
            lowered == "true"
            if lowered in ("true", "false")
            else int(value)
            if value.lstrip("-").isdigit()
            else value
        )
    return out or None


def _templates(given: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """VARIANT=FILE pairs -> (variant -> template name, name -> text); the name is the
    file's without ``.md.j2`` (config/email/NAME.md.j2)."""
    from pathlib import Path

    from qylon_cli.errors import UsageError

    names, texts = {}, {}
    for variant, file in given.items():
        path = Path(file)
        if not path.is_file():
            raise UsageError(
                f"--template: no file {file}.", hint="Give VARIANT=config/email/NAME.md.j2."
            )
        name = path.name.removesuffix(".j2").removesuffix(".md")
        names[variant], texts[name] = name, path.read_text(encoding="utf-8-sig")
    return names, texts


def _split(variants: list[dict]) -> str:
    """``a=50, b=50 (new-consultant-short)``: weights, and what each variant swaps in."""

    def one(v: dict) -> str:
        swap = v.get("sequence") or v.get("template")
        return f"{v['name']}={v['weight']:g}" + (f" ({swap})" if swap else "")

    return ", ".join(one(v) for v in variants)


def _said(item: dict) -> str:
    goal = f"; goal {_goal(item)}" if item.get("goal") else ""
    on = f"{item['target_kind']} {item['target']}"
    return f"{item['name']} ({item['status']}) on {on}: {_split(item['variants'])}{goal}"


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
    sequence: Annotated[
        list[str] | None,
        typer.Option(
            "--sequence",
            metavar="VARIANT=SEQUENCE",
            help="On a sequence: the uploaded sequence this variant's people run instead "
            "(repeat for each variant; a variant without one runs the target).",
            show_default=False,
        ),
    ] = None,
    template: Annotated[
        list[str] | None,
        typer.Option(
            "--template",
            metavar="VARIANT=FILE",
            help="On a template: the template file (config/email/NAME.md.j2) this "
            "variant's people get in its place (repeat for each variant).",
            show_default=False,
        ),
    ] = None,
    goal: Annotated[
        str | None,
        typer.Option(
            metavar="EVENT_TYPE",
            help="The event that converts an exposed person, e.g. onboarding.completed or "
            "compliance.item_completed (without one, conversions come through the API).",
            show_default=False,
        ),
    ] = None,
    goal_where: Annotated[
        list[str] | None,
        typer.Option(
            "--goal-where",
            metavar="KEY=VALUE",
            help="Only goal events whose data holds this value convert (repeat: all must "
            "hold), e.g. item_key=security-training; docs/events.md lists each event's data.",
            show_default=False,
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Create an experiment, as a draft (nobody is exposed until `start`). Once it runs,
    `qylon onboarding start` (and `users import --onboard`) assigns each person starting
    the target sequence (or a sequence using the target template) a variant.

    Example: qylon experiments create welcome-subject --variants a=50,b=50 --on sequence:new-consultant --min-sample 200

    Example: qylon experiments create short-or-long --variants long=1,short=1 --on sequence:new-consultant --sequence short=new-consultant-short --goal onboarding.completed

    Example: qylon experiments create friendlier-welcome --variants a=1,b=1 --on template:new-consultant-welcome --template b=config/email/new-consultant-welcome-b.md.j2 --goal compliance.item_completed --goal-where item_key=security-training
    """
    from qylon_cli.errors import InvalidInput

    kind, target = parse_target(on)
    parsed = parse_variants(variants)
    sequences = _pairs("--sequence", sequence, parsed)
    named, texts = _templates(_pairs("--template", template, parsed))
    if (sequences and kind != "sequence") or (named and kind != "template"):
        raise InvalidInput(
            "--sequence goes with --on sequence:NAME, --template with --on template:NAME.",
            hint="An experiment varies one thing: a sequence or a template.",
        )
    for v in parsed:
        v.update({k: d[v["name"]] for k, d in (("sequence", sequences), ("template", named))
                  if v["name"] in d})  # fmt: skip
    body = {
        "name": name,
        "target_kind": kind,
        "target": target,
        "variants": parsed,
        "min_sample": min_sample,
        "goal": goal,
        "goal_where": _where(goal_where),
        "templates": texts,
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
    for col in ("Experiment", "Status", "On", "Variants", "Goal", "Min sample"):
        table.add_column(col)
    for e in items:
        on = f"{e['target_kind']}:{e['target']}"
        goal = Text(_goal(e) if e.get("goal") else "–")
        row = (Text(e["name"]), e["status"], Text(on), Text(_split(e["variants"])), goal)
        table.add_row(*row, str(e["min_sample"]))
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

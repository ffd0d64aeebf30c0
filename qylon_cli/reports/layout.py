"""A report's JSON, laid out as tables and charts: what the table, CSV, Markdown, HTML and
PNG formats draw. Each chart keeps the numbers it plots (``series``) and the text it
writes beside each bar (``texts``), both taken from the JSON here and nowhere else, so a
test can read a drawn chart back and compare it with the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list]


@dataclass
class Chart:
    name: str
    title: str
    labels: list[str]  # the categories, one bar (or group of bars) each
    series: list[tuple[str, list[float]]]  # (legend name, one value per label)
    texts: list[list[str]]  # per series, the text written at the end of each bar
    value_axis: str  # the value axis's label (with its unit)
    category_axis: str  # the category axis's label


@dataclass
class Report:
    title: str
    lines: list[str] = field(default_factory=list)  # what it covers: filters, date
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


def _num(value: float | None, fmt: str = "{:g}") -> str:
    return "–" if value is None else fmt.format(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _covers(data: dict) -> list[str]:
    f = data.get("filters") or {}
    said = [f"{k}: {v}" for k, v in f.items() if v not in (None, "")]
    source = {"local": "this device's meetings", "server": "the team server"}.get(
        data.get("source", ""), data.get("source")
    )
    lines = [f"Source: {source}"] if source else []
    lines.append(("Filters: " + ", ".join(said)) if said else "Filters: none")
    if data.get("today"):
        lines.append(f"As of {data['today']}")
    return lines


def meetings(data: dict) -> Report:
    items = data["action_items"]
    summary = Table(
        "summary",
        "Summary",
        ["Figure", "Value"],
        [
            ["Meetings", data["meetings"]],
            ["Hours", data["hours"]],
            ["Action items opened", items["opened"]],
            ["Action items closed", items["closed"]],
            ["Action items open", items["open"]],
            ["Action items overdue", items["overdue"]],
            ["Median days to close", items["median_days_to_close"]],
        ],
    )
    clients = Table(
        "clients",
        "By client",
        ["Client", "Meetings", "Hours"],
        [[c["client"], c["meetings"], c["hours"]] for c in data["clients"]],
    )
    speakers = Table(
        "speakers",
        "Talk time per speaker",
        ["Speaker", "Talk time (min)", "Share"],
        [[s["speaker"], round(s["talk_time_s"] / 60, 1), s["share"]] for s in data["speakers"]],
    )
    shares = [round(s["share"] * 100, 2) for s in data["speakers"]]
    charts = [
        Chart(
            "talk_time",
            "Talk-time share per speaker",
            [s["speaker"] for s in data["speakers"]],
            [("Share", shares)],
            [[_pct(s["share"]) for s in data["speakers"]]],
            "Share of talk time (%)",
            "Speaker",
        ),
        Chart(
            "clients",
            "Hours per client",
            [c["client"] for c in data["clients"]],
            [("Hours", [c["hours"] for c in data["clients"]])],
            [[_num(c["hours"], "{:.2f} h") for c in data["clients"]]],
            "Hours of meetings",
            "Client",
        ),
        Chart(
            "action_items",
            "Action items",
            ["Opened", "Closed", "Open", "Overdue"],
            [("Items", [items[k] for k in ("opened", "closed", "open", "overdue")])],
            [[str(items[k]) for k in ("opened", "closed", "open", "overdue")]],
            "Action items",
            "Status",
        ),
    ]
    return Report("Meetings report", _covers(data), [summary, clients, speakers], charts)


STAGES = [
    ("started", "Started"),
    ("emailed", "First email sent"),
    ("compliance_done", "Compliance complete"),
    ("completed", "Completed"),
]


def onboarding(data: dict) -> Report:
    cohorts = data["cohorts"]
    funnel = Table(
        "funnel",
        "Funnel per cohort",
        ["Cohort", *(label for _, label in STAGES), "Stopped"],
        [[c["cohort"], *(c[key] for key, _ in STAGES), c["stopped"]] for c in cohorts],
    )
    overdue = data["overdue"]
    by_item = Table(
        "overdue_by_item",
        "Overdue compliance items",
        ["Policy", "Item", "Title", "People overdue"],
        [[i["policy"], i["item"], i["title"], i["overdue"]] for i in overdue["by_item"]],
    )
    people = Table(
        "overdue",
        "Overdue, person by person",
        ["Person", "Policy", "Item", "Due", "Days overdue"],
        [
            [o["email"], o["policy"], o["item"], o["due_date"], o["overdue_days"]]
            for o in overdue["list"]
        ],
    )
    charts = [
        Chart(
            "funnel",
            "Onboarding funnel per cohort",
            [c["cohort"] for c in cohorts],
            [(label, [c[key] for c in cohorts]) for key, label in STAGES],
            [[str(c[key]) for c in cohorts] for key, _ in STAGES],
            "People",
            "Cohort (month started)"
            if data["filters"].get("by") != "week"
            else "Cohort (week started)",
        ),
        Chart(
            "overdue",
            "Overdue compliance items",
            [i["title"] for i in overdue["by_item"]],
            [("People", [i["overdue"] for i in overdue["by_item"]])],
            [[str(i["overdue"]) for i in overdue["by_item"]]],
            "People overdue",
            "Compliance item",
        ),
    ]
    lines = _covers(data) + [
        f"Overdue compliance: {overdue['items']} item(s), {overdue['people']} person(s)"
    ]
    return Report("Onboarding report", lines, [funnel, by_item, people], charts)


def experiments(data: dict) -> Report:
    rows, labels, rates, texts = [], [], [], []
    for e in data["experiments"]:
        for v in e["variants"]:
            control = v["name"] == e["control"]
            rows.append(
                [
                    e["name"],
                    v["name"] + (" (control)" if control else ""),
                    v["exposures"],
                    v["conversions"],
                    v["rate"],
                    v["lift"],
                    v["p_value"],
                ]
            )
            labels.append(f"{e['name']}: {v['name']}")
            rates.append(round((v["rate"] or 0) * 100, 2))
            texts.append(_pct(v["rate"]))
    table = Table(
        "variants",
        "Variants",
        ["Experiment", "Variant", "Exposures", "Conversions", "Rate", "Lift", "p-value"],
        rows,
    )
    chart = Chart(
        "rates",
        "Conversion rate per variant",
        labels,
        [("Rate", rates)],
        [texts],
        "Conversion rate (%)",
        "Experiment: variant",
    )
    warnings = [w for e in data["experiments"] for w in e.get("warnings", [])]
    return Report("Experiments report", _covers(data) + warnings, [table], [chart])


LAYOUTS = {"meetings": meetings, "onboarding": onboarding, "experiments": experiments}


def layout(data: dict) -> Report:
    return LAYOUTS[data["report"]](data)

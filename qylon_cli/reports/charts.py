"""The reports' charts, drawn headless with matplotlib (no pyplot, no window, no global
state: each chart is a ``Figure`` of its own rendered by the Agg canvas). Imported only by
a command writing a PNG or HTML report: `qylon --help` never loads matplotlib.

Every bar carries its value as text, taken from the layout (``Chart.texts``), and every
axis is labelled; a PNG also carries the plotted numbers in its ``Description`` metadata
(JSON), so what a picture says can be checked against the report's JSON."""

from __future__ import annotations

import io
import json

from .layout import Chart, Report

COLOURS = ["#0b57d0", "#e8710a", "#188038", "#a142f4", "#d93025", "#12a4af"]
WIDTH_IN = 8.0


def _need():
    try:
        import matplotlib
    except ImportError:
        from ..errors import UsageError

        raise UsageError(
            "PNG and HTML reports need matplotlib, which is not installed.",
            hint="Install it with: pip install 'qylon[reports]' (or use --format table|json|csv|md).",
        ) from None
    return matplotlib


def _height(chart: Chart) -> float:
    bars = max(1, len(chart.labels)) * len(chart.series)
    return 1.6 + 0.32 * bars + (0.3 if len(chart.series) > 1 else 0)


def draw(ax, chart: Chart) -> None:
    """Horizontal bars (labels read left to right), the first label on top, each bar's
    value written at its end."""
    count = len(chart.series)
    thickness = 0.8 / count
    top = 0.0
    for i, ((name, values), texts) in enumerate(zip(chart.series, chart.texts, strict=True)):
        positions = [n + (i - (count - 1) / 2) * thickness for n in range(len(chart.labels))]
        bars = ax.barh(positions, values, height=thickness, color=COLOURS[i % len(COLOURS)],
                       label=name)  # fmt: skip
        ax.bar_label(bars, labels=texts, padding=3, fontsize=8)
        top = max([top, *values])
    ax.set_yticks(range(len(chart.labels)), chart.labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.18 if top > 0 else 1)
    ax.set_xlabel(chart.value_axis)
    ax.set_ylabel(chart.category_axis)
    ax.set_title(chart.title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    if count > 1:
        ax.legend(fontsize=8, loc="lower right", frameon=False)
    if not chart.labels:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center")


def figure(charts: list[Chart], title: str | None = None):
    """One figure with the charts stacked, each in its own axes."""
    _need()
    from matplotlib.figure import Figure

    heights = [_height(c) for c in charts] or [1.0]
    fig = Figure(figsize=(WIDTH_IN, sum(heights)), dpi=100, layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    for ax, chart in zip(axes, charts, strict=False):
        draw(ax, chart)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    return fig


def plotted(charts: list[Chart]) -> dict:
    """What the charts plot, as the PNG's metadata holds it."""
    return {c.name: {"labels": c.labels, "series": dict(c.series), "texts": c.texts}
            for c in charts}  # fmt: skip


def png(report: Report) -> bytes:
    fig = figure(
        report.charts, f"{report.title} ({'; '.join(report.lines[1:2] + report.lines[2:3])})"
    )
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format="png",
        metadata={"Title": report.title, "Description": json.dumps(plotted(report.charts))},
    )
    return buffer.getvalue()


def svg(chart: Chart) -> str:
    """One chart as an SVG document whose texts stay text (``svg.fonttype: none``): the
    values on the bars can be read, searched and copied."""
    matplotlib = _need()
    fig = figure([chart])
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart.name}):
        fig.savefig(buffer, format="svg", metadata={"Title": chart.title, "Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML declaration and doctype

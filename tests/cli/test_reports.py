"""`qylon report meetings` on this device's meetings: the figures are the hand-computed
ones of the fixture set (tests/report_fixture.py), in every format; the PNG and HTML
reports are looked at: not blank, axes labelled, and the numbers drawn are the JSON's
(the PNG's bars measured in pixels, the HTML's chart texts read back, the page opened in
a real browser)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest

from tests.report_fixture import ACME, ALL, MEETINGS, SINCE, figures

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def stored(qylon_home):
    """The fixture set in this test's local store."""
    from qylon_agent.store.database import Store

    store = Store()
    try:
        for meeting in MEETINGS:
            store.save_meeting(meeting)
    finally:
        store.close()


def _records():
    return [m.model_dump() for m in MEETINGS]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({}, ALL), ({"client": "acme"}, ACME), ({"since": date(2026, 11, 10)}, SINCE)],
)
def test_the_figures_are_the_hand_computed_ones(kw, expected):
    from qylon_cli.reports.meetings import meeting_figures

    assert figures(meeting_figures(_records(), **kw)) == expected


def test_the_local_report_reads_the_store(stored, qylon, qylon_here):
    result = qylon("report", "meetings", "--json")  # the real command, once
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert figures(data) == ALL and data["source"] == "local"
    from qylon_cli.schemas_reports import MeetingReport

    # the local report has the wire format of the server's (its OpenAPI schema)
    assert MeetingReport.model_validate(data).model_dump(mode="json") == data
    acme = qylon_here("report", "meetings", "--client", "ACME", "--format", "json")
    assert figures(acme.json["data"]) == ACME
    since = qylon_here("report", "meetings", "--since", "2026-11-10", "--json")
    assert figures(since.json["data"]) == SINCE
    assert since.json["data"]["filters"] == {"client": None, "since": "2026-11-10"}


def test_bad_options_are_usage_errors(stored, qylon_here):
    assert qylon_here("report", "meetings", "--since", "last tuesday").code == 2
    assert qylon_here("report", "meetings", "--format", "xlsx").code == 2


def test_table_csv_and_markdown_say_the_same_numbers(stored, qylon_here):
    table = qylon_here("report", "meetings")
    assert table.code == 0, table.stderr
    assert re.search(r"Median days to close\s+1\.75", table.stdout)
    assert re.search(r"Dana Lee\s+45\s+33\.3 %", table.stdout)
    rows = list(csv.DictReader(io.StringIO(qylon_here("report", "meetings", "-f", "csv").stdout)))
    values = {(r["section"], r["label"], r["column"]): r["value"] for r in rows}
    assert values[("summary", "Meetings", "Value")] == "3"
    assert values[("summary", "Median days to close", "Value")] == "1.75"
    assert values[("speakers", "Sam Roe", "Share")] == "0.2593"
    assert values[("clients", "Globex", "Hours")] == "0.75"
    md = qylon_here("report", "meetings", "-f", "md").stdout
    assert "| Action items closed | 4 |" in md and "| Unnamed | 21.7 | 16.1 % |" in md


def _bands(image, colour, tolerance=8):
    """Rows of the image holding a bar of ``colour``: [(top, bottom, width in pixels)],
    top to bottom; the width is counted on the band's middle row."""
    width, height = image.size
    pixels = image.load()

    def hit(x, y):
        return all(abs(a - b) <= tolerance for a, b in zip(pixels[x, y][:3], colour, strict=True))

    rows = [y for y in range(height) if sum(hit(x, y) for x in range(0, width, 2)) > 2]
    bands, start = [], None
    for y, nxt in zip(rows, rows[1:] + [None], strict=True):
        start = y if start is None else start
        if nxt != y + 1:
            middle = (start + y) // 2
            bands.append((start, y, sum(hit(x, middle) for x in range(width))))
            start = None
    return [b for b in bands if b[1] - b[0] >= 4]  # bars, not a legend's swatch


def test_png_report_shows_the_json_numbers(stored, qylon_here, tmp_path):
    from PIL import Image

    from qylon_cli.reports import charts, layout

    data = qylon_here("report", "meetings", "--json").json["data"]
    out = tmp_path / "meetings.png"
    result = qylon_here("report", "meetings", "--format", "png", "-o", str(out))
    assert result.code == 0, result.stderr
    image = Image.open(out)
    assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 600
    assert len(image.convert("RGB").getcolors(1 << 20)) > 50  # not blank
    # the numbers it plots, as its metadata keeps them, are the JSON's
    plotted = json.loads(image.info["Description"])
    assert plotted["talk_time"]["labels"] == [s["speaker"] for s in data["speakers"]]
    assert plotted["talk_time"]["series"]["Share"] == [
        round(s["share"] * 100, 2) for s in data["speakers"]
    ]
    assert plotted["action_items"]["series"]["Items"] == [7, 4, 3, 1]
    # ... and the bars drawn are as long as those numbers: measured in pixels, the bars of
    # each chart (top to bottom: speakers, clients, items) keep the values' proportions
    bands = _bands(image.convert("RGB"), (0x0B, 0x57, 0xD0))
    expected = [
        [s["share"] for s in data["speakers"]],
        [c["hours"] for c in data["clients"]],
        [7, 4, 3, 1],
    ]
    assert len(bands) == sum(len(e) for e in expected), bands
    first = 0
    for values in expected:
        widths = [b[2] for b in bands[first : first + len(values)]]
        first += len(values)
        for value, width in zip(values, widths, strict=True):
            assert width / widths[0] == pytest.approx(value / values[0], abs=0.02), (values, widths)
    # every axis labelled, every bar labelled with the JSON's value
    report = layout.layout(data)
    figure = charts.figure(report.charts)
    for ax, chart in zip(figure.axes, report.charts, strict=True):
        assert ax.get_xlabel() == chart.value_axis and ax.get_ylabel() == chart.category_axis
        assert ax.get_title(loc="left") == chart.title
        drawn = [t.get_text() for t in ax.texts]
        assert drawn == [t for texts in chart.texts for t in texts]
    assert [t.get_text() for t in figure.axes[0].texts] == ["33.3 %", "25.9 %", "24.7 %", "16.1 %"]


def test_html_report_carries_tables_charts_and_its_json(stored, qylon_here, tmp_path):
    out = tmp_path / "meetings.html"
    result = qylon_here("report", "meetings", "--format", "html", "-o", str(out))
    assert result.code == 0, result.stderr
    page = out.read_text()
    data = json.loads(re.search(r"id='report-data'>(.*?)</script>", page, re.DOTALL)[1])["data"]
    assert figures(data) == ALL
    # each chart is an SVG whose texts are text: the values on its bars, its axes' labels
    charts = dict(re.findall(r"<figure data-chart='(\w+)'.*?>(.*?)</figure>", page, re.DOTALL))
    assert set(charts) == {"talk_time", "clients", "action_items"}
    texts = {n: re.findall(r"<text[^>]*>([^<]*)</text>", svg) for n, svg in charts.items()}
    for label in ("33.3 %", "25.9 %", "24.7 %", "16.1 %", "Share of talk time (%)", "Speaker"):
        assert label in texts["talk_time"]
    for label in ("1.50 h", "0.75 h", "Hours of meetings", "Client"):
        assert label in texts["clients"]
    assert {"7", "4", "3", "1", "Action items", "Status"} <= set(texts["action_items"])


def test_html_report_in_a_real_browser(stored, qylon_here, tmp_path, browser):
    from PIL import Image

    from tests.server.browser import artefacts

    out = tmp_path / "meetings.html"
    assert qylon_here("report", "meetings", "-f", "html", "-o", str(out)).code == 0
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        tab.goto(out.as_uri())
        assert tab.title() == "Meetings report"
        cells = tab.locator("table[data-table='speakers'] tbody tr").all_inner_texts()
        assert cells[0].split("\t") == ["Dana Lee", "45", "33.3 %"]
        assert tab.locator("figure[data-chart='talk_time'] svg").is_visible()
        box = tab.locator("figure[data-chart='talk_time'] svg").bounding_box()
        assert box["width"] > 300 and box["height"] > 100
        shot = artefacts() / "report-meetings-html.png"
        tab.screenshot(path=str(shot), full_page=True)
        assert len(Image.open(shot).convert("RGB").getcolors(1 << 20)) > 50
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.server.browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_without_the_agent_the_local_report_names_what_to_install(qylon_here):
    result = qylon_here("report", "meetings", "--json", env={"QYLON_LOAD_PLUGINS": "admin"})
    assert result.code == 2
    error = result.json["error"]
    assert "qylon[agent]" in error["hint"] and "--team" in error["hint"]


def test_formats_complete(qylon_here):
    from tests.conftest import complete

    assert complete("qylon report meetings --format p", run=qylon_here) == ["png"]
    assert complete("qylon report onboarding --by w", run=qylon_here) == ["week"]

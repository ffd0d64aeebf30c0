"""The team's dashboard page in a real browser (headless Chromium through Playwright, at
a desktop and a phone viewport), as the compliance pages are tested: reached by its
signed link, it shows the figures of /v1/reports/* (the bars' labels are the JSON's
values, and their drawn lengths keep the values' proportions), only the sections the
person may read, and refuses tampered, expired, misdirected and orphaned links. A
screenshot of each page is kept (tests/server/browser.py)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from qylon_server import links

from .browser import browser, desktop, page, shot  # noqa: F401 - fixtures
from .harness import settings_for
from .test_reports import meetings, onboarded  # noqa: F401 - fixtures

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("sqlite")


def _link(api, server, token) -> str:
    r = api.post("/v1/reports/dashboard-link", token)
    assert r.status_code == 200, r.text
    parts = urlsplit(r.json()["url"])
    return f"{server.url}{parts.path}?{parts.query}"


def test_the_dashboard_shows_the_reports_figures(page, api, org, server, meetings, onboarded):  # noqa: F811
    page.goto(_link(api, server, org.token))
    assert page.title().startswith("Team dashboard")
    sections = page.locator("section[data-section]")
    assert [sections.nth(i).get_attribute("data-section") for i in range(sections.count())] == [
        "meetings", "onboarding", "experiments",
    ]  # fmt: skip
    data = api.get("/v1/reports/meetings", org.token).json()
    chart = page.locator("section[data-section=meetings] figure[data-chart=talk_time]")
    rows = chart.locator("tbody tr")
    assert rows.count() == len(data["speakers"]) == 4
    widths = []
    for i, speaker in enumerate(data["speakers"]):
        row = rows.nth(i)
        assert row.locator("th").inner_text() == speaker["speaker"]
        assert row.locator(".value").inner_text() == f"{speaker['share'] * 100:.1f} %"
        widths.append(row.locator(".fill").bounding_box()["width"])
    # the bars as the browser laid them out: as long as the shares (to a pixel or so)
    for width, speaker in zip(widths, data["speakers"], strict=True):
        expected = widths[0] * speaker["share"] / data["speakers"][0]["share"]
        assert width == pytest.approx(expected, abs=1.5)
    summary = page.locator("section[data-section=meetings] table[data-table=summary] tbody tr")
    assert summary.nth(0).inner_text().split("\t") == ["Meetings", "3"]
    assert summary.nth(6).inner_text().split("\t") == ["Median days to close", "1.75"]
    funnel = page.locator("section[data-section=onboarding] table[data-table=funnel] tbody tr")
    assert funnel.nth(0).inner_text().split("\t") == ["2026-10", "2", "2", "1", "1", "0"]
    overdue = page.locator("section[data-section=onboarding] table[data-table=overdue] tbody tr")
    assert overdue.count() == 2 and "bo@firm.example" in overdue.nth(0).inner_text()
    # nothing wider than the phone: readable without sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "dashboard")


def test_a_member_sees_the_meetings_only(desktop, api, org, server, meetings):  # noqa: F811
    member = api.make_user(org.token, "member", scopes=("read",))
    desktop.goto(_link(api, server, member))
    sections = desktop.locator("section[data-section]")
    assert sections.count() == 1 and sections.first.get_attribute("data-section") == "meetings"
    assert "Onboarding" not in desktop.content()
    # an admin's key with the read scope only: its link shows no admin section either
    admin = api.make_user(org.token, "admin", scopes=("read",))
    desktop.goto(_link(api, server, admin))
    assert desktop.locator("section[data-section]").count() == 1


class _TwoDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 2 * 24 * 3600


def test_bad_links_show_nothing(desktop, api, org, server, backend, meetings):  # noqa: F811
    good = _link(api, server, org.token)
    response = desktop.goto(good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))
    assert response.status == 400 and desktop.title().startswith("This link is not valid")
    assert "Dana Lee" not in desktop.content()
    settings = settings_for(backend)
    old = URLSafeTimedSerializer(
        settings.link_key(), salt="qylon.link.dashboard", signer=_TwoDaysAgo
    ).dumps({"o": org.id, "u": org.owner_id, "s": "meetings"})
    response = desktop.goto(f"{server.url}/p/dashboard?t={old}")
    assert response.status == 410 and "Dana Lee" not in desktop.content()
    # a link made for another page (a checklist) does not open the dashboard
    checklist = links.sign(settings, links.Link("checklist", org.id, org.owner_id))
    assert desktop.goto(f"{server.url}/p/dashboard?t={checklist}").status == 400
    # a person deactivated after the link was made sees nothing with it
    member = api.make_user(org.token, "member", scopes=("read",))
    link = _link(api, server, member)
    me = api.get("/v1/me", member).json()
    assert api.post(f"/v1/users/{me['user']['id']}/deactivate", org.token).status_code == 200
    response = desktop.goto(link)
    assert response.status == 400 and "Dana Lee" not in desktop.content()
    shot(desktop, "dashboard-bad-link")


def test_qylon_report_dashboard_gives_the_link(desktop, api, org, server, meetings):  # noqa: F811
    from ..conftest import credentials, run_qylon_here

    result = run_qylon_here("report", "dashboard", "--json", env=credentials(server.url, org.token))
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert data["sections"] == ["meetings", "onboarding", "experiments"]
    assert data["expires_in_s"] == 24 * 3600
    parts = urlsplit(data["url"])
    desktop.goto(f"{server.url}{parts.path}?{parts.query}")
    assert desktop.locator("section[data-section=meetings]").is_visible()
    events = api.get("/v1/audit-events?action=reports.dashboard_link", org.token).json()
    assert events["items"] and events["items"][0]["detail"]["sections"] == data["sections"]

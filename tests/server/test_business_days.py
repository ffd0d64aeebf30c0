"""Business-day arithmetic for email sequences (time zones, weekends, holidays, DST),
the email templates (Markdown to HTML and text) and the sequence file's checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from qylon_server.services import business_days as bd
from qylon_server.services import email_render

from qylon_cli import sequence_defs

ROOT = Path(__file__).parents[2]
NY, LONDON, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Asia/Tokyo")


def test_two_business_days_skip_the_weekend_in_the_persons_zone():
    # Thursday 3 Dec 2026, 22:00 in New York is already Friday in UTC and in Tokyo
    after = datetime(2026, 12, 3, 22, 0, tzinfo=NY)
    due = bd.due(after, 2, "09:00", "America/New_York")
    assert due.astimezone(NY) == datetime(2026, 12, 7, 9, 0, tzinfo=NY)  # Monday
    assert due.tzinfo == UTC and due == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    # the same instant, counted in Tokyo (Friday there): Tuesday, 09:00 Tokyo
    due = bd.due(after, 2, "09:00", "Asia/Tokyo")
    assert due.astimezone(TOKYO) == datetime(2026, 12, 8, 9, 0, tzinfo=TOKYO)


def test_without_a_time_the_local_time_of_day_is_kept():
    after = datetime(2026, 12, 4, 16, 30, tzinfo=LONDON)  # Friday
    assert bd.due(after, 1, None, "Europe/London").astimezone(LONDON) == datetime(
        2026, 12, 7, 16, 30, tzinfo=LONDON
    )


def test_holidays_of_the_country_are_skipped():
    after = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)  # Thursday, Christmas Eve
    # 25 Dec (Fri) and 28 Dec (Mon, Boxing Day substitute) are bank holidays in England
    due = bd.due(after, 1, "09:00", "Europe/London", "GB")
    assert due.astimezone(LONDON).date().isoformat() == "2026-12-29"
    assert bd.due(after, 1, "09:00", "Europe/London").astimezone(LONDON).day == 25


def test_zero_days_at_an_hour_is_the_next_business_morning():
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=NY)
    due = bd.due(friday_evening, 0, "09:00", "America/New_York")
    assert due.astimezone(NY) == datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    early = datetime(2026, 12, 4, 7, 0, tzinfo=NY)
    assert bd.due(early, 0, "09:00", "America/New_York").astimezone(NY).day == 4


def test_across_a_dst_change_the_local_hour_holds():
    # London goes to summer time on Sunday 29 March 2026: 09:00 is 09:00 UTC on Friday
    # and 08:00 UTC on Monday
    friday = datetime(2026, 3, 27, 9, 0, tzinfo=LONDON)
    due = bd.due(friday, 1, None, "Europe/London")
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert due.astimezone(LONDON).hour == 9


def test_a_time_in_the_spring_gap_moves_on_and_a_repeated_one_is_the_first():
    gap = bd.local(datetime(2026, 3, 29).date(), datetime.strptime("01:30", "%H:%M").time(), LONDON)
    assert (gap.hour, gap.minute) == (2, 30) and gap.utcoffset().total_seconds() == 3600
    repeated = bd.local(
        datetime(2026, 11, 1).date(), datetime.strptime("01:30", "%H:%M").time(), NY
    )
    assert repeated.astimezone(UTC).hour == 5  # 01:30 EDT (UTC-4), the first of the two


def test_an_unknown_zone_is_refused():
    with pytest.raises(bd.UnknownZone):
        bd.due(datetime.now(UTC), 1, None, "Mars/Olympus")


def test_the_shipped_templates_render_to_html_and_text_with_the_unsubscribe_link():
    for path in sorted((ROOT / "config/email").glob("*.md.j2")):
        email_render.check(path.read_text())
    source = (ROOT / "config/email/new-consultant-welcome.md.j2").read_text()
    context = {
        **email_render.SAMPLE,
        "person": {**email_render.SAMPLE["person"], "first_name": "<b>Ana</b>"},
    }
    out = email_render.render(source, context)
    assert out.subject == "Welcome to Firm, <b>Ana</b>"
    assert "<strong>Firm</strong>" in out.html and "&lt;b&gt;Ana&lt;/b&gt;" in out.html
    assert "<b>Ana" not in out.html  # raw HTML in a value is escaped, never rendered
    assert "open your checklist <https://qylon.example/p/checklist?t=sample>" in out.text
    assert "Unsubscribe: https://qylon.example/p/unsubscribe?t=sample" in out.text
    assert 'href="https://qylon.example/p/unsubscribe?t=sample"' in out.html


def test_a_template_with_an_unknown_name_or_bad_syntax_names_the_line():
    with pytest.raises(email_render.TemplateInvalid, match="persn"):
        email_render.check("---\nsubject: Hi\n---\nHello {{ persn.first_name }}\n")
    with pytest.raises(email_render.TemplateInvalid) as caught:
        email_render.check("---\nsubject: Hi\n---\nline one\n{% if %}\n")
    assert caught.value.line == 5
    with pytest.raises(email_render.TemplateInvalid, match="subject"):
        email_render.check("no header\n")


def test_the_shipped_sequence_is_valid_and_errors_name_file_line_and_field():
    path = ROOT / "config/sequences/new-consultant.yaml"
    bundle = sequence_defs.bundle(path)
    assert sorted(bundle.templates) == [
        "new-consultant-day-2",
        "new-consultant-manager-escalation",
        "new-consultant-overdue-reminder",
        "new-consultant-welcome",
    ]
    bad = (
        "name: onboarding\nversion: 1\nsteps:\n"
        "  - name: welcome\n    template: w\n    delay: -1\n"
        "  - name: welcome\n    template: w\n    at: '9am'\n    to: boss\n"
        "  - name: x_plan\n    template: w\n    dealy: 2\n"
    )
    got = [p.format("seq.yaml") for p in sequence_defs.check(bad, "seq.yaml").problems]
    assert got == [
        "seq.yaml:6: steps[0].delay: must be at least 0",
        "seq.yaml:7: steps[1].name: duplicate step name 'welcome' (first at steps[0])",
        "seq.yaml:9: steps[1].at: '9am' is not a local time (HH:MM, 24 hours), e.g. 09:00",
        "seq.yaml:10: steps[1].to: must be one of 'person' or 'manager'",
        "seq.yaml:11: steps[2].name: 'x_plan' is reserved (finish, and names ending _plan or _wait)",
        (
            "seq.yaml:13: steps[2].dealy: unknown key 'dealy'; did you mean 'delay'? "
            "(allowed: name, description, template, delay, at, to, skip_if, stop_if)"
        ),
    ]

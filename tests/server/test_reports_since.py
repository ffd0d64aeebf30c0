"""A report's ``since`` at the calendar's first day is a valid date: every meeting, no 500
(the API fuzzer sent 0001-01-01 and the day before it overflowed)."""

from __future__ import annotations


def test_the_first_day_of_the_calendar_is_a_valid_since(api, org):
    earliest = api.get("/v1/reports/meetings?since=0001-01-01", org.token)
    assert earliest.status_code == 200, earliest.text
    everything = api.get("/v1/reports/meetings", org.token).json()
    assert earliest.json()["filters"]["since"] == "0001-01-01"
    assert {k: v for k, v in earliest.json().items() if k != "filters"} == {
        k: v for k, v in everything.items() if k != "filters"
    }

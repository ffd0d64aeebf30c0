"""Progress without a terminal: plain lines, one per tenth of the work, not too often."""

from __future__ import annotations

import io

from qylon_cli.progress import PlainLines


def test_plain_lines_come_per_tenth_not_too_often_and_end_at_100():
    now = [0.0]
    out = io.StringIO()
    lines = PlainLines("Importing", stream=out, min_interval=5.0, clock=lambda: now[0])
    for done in range(101):
        now[0] = done * 0.2  # 20 s for the whole job
        lines.update(done, 100, f"{done}/100")
    shown = out.getvalue().splitlines()
    percents = [int(x.split(": ")[1].split("%")[0]) for x in shown]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(set(percents))  # each step once, in order
    assert len(shown) <= 6  # every 5 s at most (0, 5, 10, 15, 20 s) plus the end
    assert shown[-1] == "Importing: 100% (100/100), 20s elapsed"
    lines.update(100, 100)
    lines.update(50, None)  # an unknown total prints nothing
    assert len(out.getvalue().splitlines()) == len(shown)

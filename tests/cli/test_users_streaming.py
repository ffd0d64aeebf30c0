"""A large file is streamed: memory grows by a small index per row, never by the rows."""

from __future__ import annotations

import csv
import tracemalloc

import pytest
from qylon_admin.users.preview import preview


def generate(path, rows: int, width: int = 0) -> int:
    """A user file of ``rows`` rows, each with a manager and ``width`` characters of notes."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "first_name", "last_name", "manager", "title", "attr:notes"])
        for i in range(rows):
            manager = f"user{i // 10}@example.com" if i else ""
            out.writerow(
                [f"user{i}@example.com", "Zoë", f"Müller{i}", manager, "Consultant", "x" * width]
            )
    return path.stat().st_size


def peak(path, report) -> tuple[int, object]:
    tracemalloc.start()
    try:
        result = preview(path, report=report, limit=20)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_memory_does_not_depend_on_how_wide_the_rows_are(tmp_path):
    narrow, wide = tmp_path / "narrow.csv", tmp_path / "wide.csv"
    narrow_size = generate(narrow, 20_000)
    wide_size = generate(wide, 20_000, width=900)
    assert wide_size > 5 * narrow_size
    narrow_peak, _ = peak(narrow, tmp_path / "n.csv")
    wide_peak, result = peak(wide, tmp_path / "w.csv")
    assert result.planner.summary()["create"] == 20_000
    assert wide_peak < narrow_peak * 1.25 + 1_000_000, (narrow_peak, wide_peak)
    assert wide_peak < wide_size / 3


@pytest.mark.slow
def test_memory_stays_bounded_on_a_large_file(tmp_path):
    large = tmp_path / "large.csv"
    # Under tracemalloc each row costs CPU time. The peak is almost all slope (measured:
    # 151 bytes a row at 50,000 rows, 150 at 100,000), so 50,000 rows show it; fewer rows
    # only make both bounds below stricter (the fixed part counts for more per row).
    rows = 50_000
    size = generate(large, rows, width=100)
    large_peak, result = peak(large, tmp_path / "large.json")
    assert result.error_count == 0 and result.planner.summary()["create"] == rows
    assert len(result.items) == 20 and result.truncated
    per_row = large_peak / rows
    print(f"file {size / 1e6:.0f} MB, peak {large_peak / 1e6:.1f} MB, {per_row:.0f} bytes per row")
    assert per_row < 200, "only a small index per row (email hash, row, manager) may be kept"
    assert large_peak < size


def test_progress_reports_bytes_then_rows(tmp_path):
    path = tmp_path / "p.csv"
    size = generate(path, 2_500)
    calls = []
    preview(path, progress=lambda stage, done, total: calls.append((stage, done, total)))
    checks = [c for c in calls if c[0] == "check"]
    plans = [c for c in calls if c[0] == "plan"]
    assert checks[-1] == ("check", size, size) and len(checks) == 3
    assert all(0 < done <= size for _, done, _ in checks)
    assert plans[-1] == ("plan", 2_500, 2_500) and [d for _, d, _ in plans[:2]] == [1000, 2000]

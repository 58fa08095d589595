"""The supported dates, FIRST_DAY..LAST_DAY in WIB, at their exact edges and in any offset."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from geo.errors import BadInput, LimitExceeded
from geo.periods import check_day, check_instant, make_period

INSIDE = [
    "2000-01-01T00:00:00+07:00",          # the first instant
    "1999-12-31T17:00:00+00:00",          # the same, in UTC
    "2000-01-01T09:59:00+09:59",
    "2100-12-31T23:59:59.999999+07:00",   # the last instant
    "2100-12-31T16:59:59Z",
]
OUTSIDE = [
    "1999-12-31T23:59:59.999999+07:00",
    "2000-01-01T00:00:00+08:00",          # 23:00 WIB the day before
    "2101-01-01T00:00:00+07:00",
    "2100-12-31T17:00:00Z",               # 00:00 WIB on 2101-01-01
    "2100-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+07:00",          # UTC would be in year 0
    "9999-12-31T23:59:59-05:00",          # UTC would be in year 10000
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59+23:59",
]


@pytest.mark.parametrize("iso", INSIDE)
def test_an_instant_inside_is_taken_as_utc(iso: str) -> None:
    ts = datetime.fromisoformat(iso)
    assert check_instant(ts, "startedAt") == ts
    assert check_instant(ts, "startedAt").tzinfo == UTC


@pytest.mark.parametrize("iso", OUTSIDE)
def test_an_instant_outside_is_refused_naming_the_field(iso: str) -> None:
    with pytest.raises(BadInput, match=r"^deviceTime: .* is outside the supported dates "
                                       r"2000-01-01\.\.2100-12-31 \(WIB\)$"):
        check_instant(datetime.fromisoformat(iso), "deviceTime")


def test_an_instant_without_offset_is_refused() -> None:
    with pytest.raises(BadInput, match="startedAt: give an offset"):
        check_instant(datetime(2026, 10, 1, 9), "startedAt")


@pytest.mark.parametrize(("day", "ok"), [
    (date(2000, 1, 1), True), (date(2100, 12, 31), True), (date(1999, 12, 31), False),
    (date(2101, 1, 1), False), (date.min, False), (date.max, False)])
def test_days_at_the_edges(day: date, ok: bool) -> None:
    if ok:
        assert check_day(day, "to") == day
    else:
        with pytest.raises(BadInput, match=f"^to: {day} is outside the supported dates"):
            check_day(day, "to")


def test_a_period_ending_on_the_last_day_has_an_end_instant() -> None:
    p = make_period(date(2100, 12, 1), date(2100, 12, 31), 400)
    assert p.t1.isoformat() == "2101-01-01T00:00:00+07:00"
    assert p.t1.astimezone(UTC).isoformat() == "2100-12-31T17:00:00+00:00"


def test_a_period_is_checked_for_range_before_order_and_length() -> None:
    with pytest.raises(BadInput, match="^filter.period.from: 9999-12-31 is outside"):
        make_period(date.max, date.min, 400, "filter.period")
    with pytest.raises(LimitExceeded, match="401 days"):
        make_period(date(2026, 1, 1), date(2027, 2, 5), 400)

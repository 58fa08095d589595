"""WIB calendar days. Every day, week and month in Jangkau is an Asia/Jakarta (UTC+7) one.

Every date and instant a client gives must lie in the supported range, FIRST_DAY..LAST_DAY
(WIB): beyond it Python's dates overflow (the day after 9999-12-31, 0001-01-01 in UTC) and
nothing the city records can lie there anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from geo.errors import BadInput, LimitExceeded

WIB = timezone(timedelta(hours=7), "WIB")
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
SUPPORTED = f"{FIRST_DAY}..{LAST_DAY} (WIB)"
# The supported instants, [FIRST_INSTANT, AFTER_LAST_INSTANT): made once, not for every instant
# of every item of a batch.
FIRST_INSTANT = datetime.combine(FIRST_DAY, time(0), WIB)
AFTER_LAST_INSTANT = datetime.combine(LAST_DAY + timedelta(days=1), time(0), WIB)


@dataclass(frozen=True)
class Period:
    """Inclusive WIB calendar days [start, end]."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def t0(self) -> datetime:
        """The first instant of `start` in WIB."""
        return datetime.combine(self.start, time(0), WIB)

    @property
    def t1(self) -> datetime:
        """The first instant after `end` in WIB (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time(0), WIB)


def check_day(day: date, where: str) -> date:
    """A date a client gave, refused outside the supported range."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(f"{where}: {day} is outside the supported dates {SUPPORTED}")
    return day


def check_instant(ts: datetime, where: str) -> datetime:
    """An instant a client gave, with its UTC offset, as UTC; refused outside the range."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise BadInput(f"{where}: give an offset (e.g. 2026-11-01T09:30:00+07:00)")
    # Compared as given: converting first would overflow at year 1 or 9999 in some offsets.
    if not FIRST_INSTANT <= ts < AFTER_LAST_INSTANT:
        raise BadInput(f"{where}: {ts.isoformat()} is outside the supported dates {SUPPORTED}")
    return ts.astimezone(UTC)


def make_period(start: date, end: date, max_days: int, where: str = "period") -> Period:
    check_day(start, f"{where}.from")
    check_day(end, f"{where}.to")
    if start > end:
        raise BadInput(f"{where}: 'from' ({start}) is after 'to' ({end})")
    p = Period(start, end)
    if p.days > max_days:
        raise LimitExceeded(f"{where}: {p.days} days is longer than the maximum of {max_days} "
                            "days")
    return p


def wib_date(ts: datetime) -> date:
    return ts.astimezone(WIB).date()

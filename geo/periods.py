"""WIB calendar days. Every day, week and month in Jangkau is an Asia/Jakarta (UTC+7) one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from geo.errors import BadInput, LimitExceeded

WIB = timezone(timedelta(hours=7), "WIB")


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


def make_period(start: date, end: date, max_days: int) -> Period:
    if start > end:
        raise BadInput(f"period: 'from' ({start}) is after 'to' ({end})")
    p = Period(start, end)
    if p.days > max_days:
        raise LimitExceeded(f"period: {p.days} days is longer than the maximum of {max_days} days")
    return p


def wib_date(ts: datetime) -> date:
    return ts.astimezone(WIB).date()

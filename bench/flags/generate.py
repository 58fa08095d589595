"""A labelled evaluation set: honest staff days and the fraud patterns seen in practice.

Every record is labelled HONEST or with the pattern it fakes. The same world, seed and dates give
the same rows. Honest days are what field work looks like from a phone: visits in the assigned
kelurahan (some near its border, where GPS error moves a point across the line; some helping a
neighbouring kelurahan), travel between them on foot or by motorbike along streets (path 1.25-1.6x
the straight line), GPS error that grows indoors and between tall buildings (with the accuracy the
phone reports), and phones that are offline and sync hours later.

Where the fraud patterns come from (issue 15; /work/shared/NOTES.md "The city's own practice"):
- MOCK_FLAGGED / MOCK_UNFLAGGED: fake-GPS apps, the commonest case in Indonesian remote
  attendance (Baubau, 2024: 588 ASN caught; Seluma: 400, with photos re-used). A rooted phone
  or an app that hides itself removes the OS mock flag.
- TELEPORT: the same apps used carelessly, a visit "moved" across the city in minutes.
- STATIC_DAY: a whole day of visits recorded from one spot (home, or the office) with the few
  metres of jitter a phone lying on a table shows.
- COPIED: coordinates copied from a colleague's records (a shared location, a WhatsApp pin).
- BACKDATED: a day's visits typed in one sitting at the end of it, claimed for earlier hours.
- OFF_HOURS: visits at night or on a Sunday.
- LEAVE_DAY: visits on a working day the staff member was on leave.
- NO_PATH: visits that exist only as records: too far apart for the time between them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
from shapely.geometry import Point

from bench.flags.world import M_LAT, M_LON, World
from geo.catalog import SERVICES
from geo.demo import WIB, StaffMember

HONEST = "HONEST"
PATTERNS = ("MOCK_FLAGGED", "MOCK_UNFLAGGED", "TELEPORT", "STATIC_DAY", "COPIED", "BACKDATED",
            "OFF_HOURS", "LEAVE_DAY", "NO_PATH")
# Patterns nothing Jangkau receives can tell from honest work (bench/README.md says why).
UNDETECTABLE = frozenset({"MOCK_UNFLAGGED", "LEAVE_DAY"})
HOUR = 3600.0


@dataclass(frozen=True)
class Record:
    """One activity as `geo.demo`'s staging table takes it, with its label."""

    id: uuid.UUID
    staff: int                 # index into World.staff
    staff_id: uuid.UUID
    category: str
    started: float             # epoch seconds
    ended: float
    device: float
    received: float
    lon: float
    lat: float
    accuracy_m: float
    mock: bool
    citizens: int
    outcome: str
    outcome_met: bool
    label: str
    kind: str                  # what sort of honest record (or the pattern again)

    def staging(self) -> tuple[object, ...]:
        """The columns of geo.demo.STAGING_COLUMNS."""
        return (self.id, self.staff_id, self.category, self.started, self.ended,
                self.device, self.received, self.lon, self.lat, self.accuracy_m, self.mock,
                self.citizens, self.outcome, self.outcome_met, None)


@dataclass(frozen=True)
class Visit:
    """A planned visit: where the person really is, and when."""

    lon: float
    lat: float
    start: float
    end: float
    kind: str


class Generator:
    def __init__(self, world: World, seed: int) -> None:
        self.w = world
        self.rng = np.random.default_rng(seed)

    # -- places ---------------------------------------------------------------------------
    def inside(self, k: int) -> tuple[float, float]:
        shape = self.w.kel[k].shape
        x0, y0, x1, y1 = shape.bounds
        while True:
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if shape.contains(Point(x, y)):
                return float(x), float(y)

    def near_border(self, k: int) -> tuple[float, float]:
        """Within 40 m of the kelurahan's edge, on its side of the line."""
        shape = self.w.kel[k].shape
        ring = shape.boundary
        for _ in range(50):
            p = ring.interpolate(self.rng.uniform(0, 1), normalized=True)
            a, d = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(5, 40)
            x, y = p.x + d * math.cos(a) / M_LON, p.y + d * math.sin(a) / M_LAT
            if shape.contains(Point(x, y)):
                return float(x), float(y)
        return self.inside(k)

    def place(self, m: StaffMember) -> tuple[float, float, str]:
        home = m.home[int(self.rng.integers(0, len(m.home)))]
        u = self.rng.random()
        if u < 0.12:
            return (*self.near_border(home), "border")
        nb = [n for n in self.w.neighbours[home] if n not in m.home]
        if u < 0.20 and nb:
            return (*self.inside(nb[int(self.rng.integers(0, len(nb)))]), "help")
        if u < 0.28:
            x, y = self.w.kel[home].office
            return x, y, "office"
        return (*self.inside(home), "field")

    # -- movement and the phone -----------------------------------------------------------
    @staticmethod
    def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot((a[0] - b[0]) * M_LON, (a[1] - b[1]) * M_LAT)

    def travel_s(self, d: float) -> float:
        """Along streets, on foot below 900 m, else by motorbike, plus parking and finding."""
        path = d * self.rng.uniform(1.25, 1.6)
        speed = 4.5 if d < 900 else self.rng.uniform(18, 32)
        return path / (speed / 3.6) + self.rng.uniform(120, 600)

    def fix(self, lon: float, lat: float, indoor_p: float = 0.3) -> tuple[float, float, float]:
        """A GPS fix of a true position: error and the accuracy the phone reports."""
        u = self.rng.random()
        if u < 0.015:                                  # deep indoors, a basement, a market
            sigma = self.rng.uniform(100, 300)
        elif u < indoor_p:                             # indoors, between tall buildings
            sigma = self.rng.uniform(15, 80)
        else:
            sigma = self.rng.uniform(3, 10)
        dx, dy = self.rng.normal(0, sigma / math.sqrt(2), 2)
        accuracy = round(float(sigma * self.rng.uniform(0.7, 1.5)), 1)
        return lon + dx / M_LON, lat + dy / M_LAT, accuracy

    # -- days -----------------------------------------------------------------------------
    def honest_plan(self, m: StaffMember, day0: float, first: float = 7.5) -> list[Visit]:
        t = day0 + first * HOUR + self.rng.normal(0, 1200)
        out: list[Visit] = []
        prev: tuple[float, float] | None = None
        for _ in range(int(self.rng.integers(4, 9))):
            x, y, kind = self.place(m)
            if prev is not None:
                t += self.travel_s(self.metres(prev, (x, y)))
            dur = self.rng.uniform(15, 60) * 60
            if t + dur > day0 + (first + 10) * HOUR:
                break
            out.append(Visit(x, y, t, t + dur, kind))
            prev, t = (x, y), t + dur
        return out

    def receipt(self, device: float) -> tuple[float, str]:
        if self.rng.random() < 0.15:                   # offline, synced hours later
            return device + self.rng.uniform(HOUR, 36 * HOUR), "offline"
        return device + self.rng.uniform(5, 300), ""

    def records(self, who: int, plan: list[Visit], label: str, *, jitter: bool = True,
                mock: bool = False, device: list[float] | None = None) -> list[Record]:
        m = self.w.staff[who]
        out = []
        for i, v in enumerate(plan):
            lon, lat, acc = self.fix(v.lon, v.lat) if jitter else (v.lon, v.lat, 5.0)
            dev = device[i] if device is not None else v.end + self.rng.normal(0, 20)
            received, late = self.receipt(dev)
            svc = SERVICES[m.services[int(self.rng.integers(0, len(m.services)))]]
            kind = label if label != HONEST else "/".join(
                k for k in (v.kind, late, "indoor" if acc > 15 else "") if k)
            out.append(Record(
                id=self._uuid(), staff=who, staff_id=m.id, category=svc.category, started=v.start,
                ended=v.end, device=dev, received=received, lon=lon, lat=lat, accuracy_m=acc,
                mock=mock, citizens=int(self.rng.integers(0, int(2 * svc.citizens) + 1)),
                outcome=svc.indicator, outcome_met=bool(self.rng.random() < svc.met_rate),
                label=label, kind=kind))
        return out

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.rng.bytes(16), version=4)

    # -- the patterns -----------------------------------------------------------------------
    def fake(self, pattern: str, who: int, day0: float, victim: list[Record]) -> list[Record]:
        m = self.w.staff[who]
        rng = self.rng
        if pattern in ("MOCK_FLAGGED", "MOCK_UNFLAGGED"):
            # The app puts the phone where the plan says; a careful faker adds jitter too.
            plan = self.honest_plan(m, day0)
            return self.records(who, plan, pattern, mock=pattern == "MOCK_FLAGGED",
                                jitter=pattern == "MOCK_UNFLAGGED")
        if pattern == "TELEPORT":
            plan, t, prev = [], day0 + 8 * HOUR, None
            for _ in range(int(rng.integers(4, 8))):
                while True:
                    x, y = self.inside(int(rng.integers(0, len(self.w.kel))))
                    if prev is None or self.metres(prev, (x, y)) > 6000:
                        break
                if prev is not None:
                    t += rng.uniform(2, 15) * 60
                dur = rng.uniform(10, 40) * 60
                plan.append(Visit(x, y, t, t + dur, pattern))
                prev, t = (x, y), t + dur
            return self.records(who, plan, pattern, jitter=False, mock=False)
        if pattern == "STATIC_DAY":
            spot = self.inside(m.home[0])
            plan = [replace(v, lon=spot[0], lat=spot[1]) for v in self.honest_plan(m, day0)]
            while len(plan) < 5:
                plan = [replace(v, lon=spot[0], lat=spot[1]) for v in self.honest_plan(m, day0)]
            out = []
            for r in self.records(who, plan, pattern, jitter=False):
                dx, dy = rng.normal(0, 3, 2)
                out.append(replace(r, lon=r.lon + dx / M_LON, lat=r.lat + dy / M_LAT,
                                   accuracy_m=round(float(rng.uniform(3, 12)), 1)))
            return out
        if pattern == "COPIED":
            out = []
            for v in victim:
                shift = rng.uniform(5, 40) * 60     # after the colleague was there
                r = self.records(who, [Visit(v.lon, v.lat, v.started + shift, v.ended + shift,
                                             pattern)], pattern, jitter=False)[0]
                out.append(replace(r, accuracy_m=round(float(rng.uniform(4, 15)), 1)))
            return out
        if pattern == "BACKDATED":
            plan = self.honest_plan(m, day0)
            sit = day0 + rng.uniform(15.5, 17) * HOUR
            device = [sit + i * rng.uniform(30, 120) for i in range(len(plan))]
            ox, oy = self.w.kel[m.home[0]].office
            typed = [replace(v, lon=ox, lat=oy) for v in plan]
            return self.records(who, typed, pattern, device=device)
        if pattern == "OFF_HOURS":
            day = datetime.fromtimestamp(day0, WIB)
            if rng.random() < 0.5:                     # the Sunday after
                sunday = day0 + (6 - day.weekday()) * 86400
                return self.records(who, self.honest_plan(m, sunday), pattern)
            return self.records(who, self.honest_plan(m, day0, first=20.5), pattern)
        if pattern == "LEAVE_DAY":
            return self.records(who, self.honest_plan(m, day0), pattern)
        if pattern == "NO_PATH":
            plan, t, prev = [], day0 + 8 * HOUR, None
            kec = [i for i, k in enumerate(self.w.kel)
                   if k.kecamatan == self.w.kel[m.home[0]].kecamatan]
            pool = kec + self.w.neighbours[m.home[0]]
            for _ in range(int(rng.integers(4, 8))):
                for _ in range(200):
                    x, y = self.inside(pool[int(rng.integers(0, len(pool)))])
                    d = 0.0 if prev is None else self.metres(prev, (x, y))
                    if prev is None or 2500 < d < 8000:
                        break
                if prev is not None:
                    t += d / (rng.uniform(50, 110) / 3.6)
                dur = rng.uniform(15, 45) * 60
                plan.append(Visit(x, y, t, t + dur, pattern))
                prev, t = (x, y), t + dur
            return self.records(who, plan, pattern)
        raise ValueError(pattern)


def working_days(until: date, days: int) -> list[date]:
    """Monday to Saturday of the `days` days up to `until`."""
    return [d for d in (until - timedelta(days=i) for i in range(days - 1, -1, -1))
            if d.weekday() != 6]


def generate(world: World, seed: int, until: date, days: int = 28,
             fraud_days: int = 25) -> list[Record]:
    """Every staff member's working days, `fraud_days` of them (per pattern) faked."""
    g = Generator(world, seed)
    rng = g.rng
    cal = working_days(until, days)
    n = len(world.staff)
    # Which (staff, day) are faked, and how: distinct cells, drawn up front.
    cells = rng.permutation(n * len(cal))[:fraud_days * len(PATTERNS)]
    faked = {(int(c) // len(cal), int(c) % len(cal)): PATTERNS[i // fraud_days]
             for i, c in enumerate(cells)}
    out: list[Record] = []
    honest_by_day: dict[int, list[list[Record]]] = {}
    for d, day in enumerate(cal):
        day0 = datetime(day.year, day.month, day.day, tzinfo=WIB).timestamp()
        for who in range(n):
            if (who, d) in faked:
                continue
            if day.weekday() == 5 and rng.random() > 0.3:     # a third work on Saturdays
                continue
            recs = g.records(who, g.honest_plan(world.staff[who], day0), HONEST)
            honest_by_day.setdefault(d, []).append(recs)
            out += recs
    for (who, d), pattern in sorted(faked.items()):
        day = cal[d]
        day0 = datetime(day.year, day.month, day.day, tzinfo=WIB).timestamp()
        # A copier copies a colleague of the same kelurahan when there is one.
        others = [r for r in honest_by_day.get(d, []) if r and r[0].staff != who]
        home = set(world.staff[who].home)
        victims = [r for r in others if home & set(world.staff[r[0].staff].home)] or others
        victim = victims[int(rng.integers(0, len(victims)))] if victims else []
        out += g.fake(pattern, who, day0, victim)
    return out

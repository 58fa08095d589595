"""Plausibility flags on hand-made tracks: each flag fires on the record it concerns and on no
clean one; neighbours are judged again when a late record arrives; incremental judging agrees
with judging everything at once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo import migrate
from geo.db import create_engine
from geo.live import CHANNEL, parse_payload
from geo.plausibility import evaluate, flag_settings
from geo.record import NewActivity, record
from geo.settings import Settings
from tests.conftest import Api, serve, settings_for
from tests.seed import ACTIVITIES, K1, K3, aid
from tests.tracks import KF, T1, T2, act, add_staff, judged, metres_east, point, spot, tid
from tests.tracks import record as send

SPEED = ["IMPOSSIBLE_SPEED"]
BURST = ["DUPLICATE_BURST"]


@pytest.fixture
async def staffed(conn: AsyncConnection) -> AsyncConnection:
    """T1 assigned to K1 and KF, T2 to K1, both from 1 November 2026."""
    await add_staff(conn, T1, [K1, KF])
    await add_staff(conn, T2, [K1])
    return conn


async def test_a_clean_track_has_no_flags(api: Api, staffed: AsyncConnection) -> None:
    done = await send(api, act(1, "09:00", K1), act(2, "10:00", KF), act(3, "11:00", K1),
                      act(4, "11:00", K1, staff=T2, accuracyMeters=100.0))
    assert all(r["flags"] == [] and r["review"] == "NONE" for r in done.values()), done


async def test_each_flag_fires_on_its_record_only(api: Api, staffed: AsyncConnection) -> None:
    cases = {
        1: (act(1, "08:00", K1), []),
        2: (act(2, "10:00", None), ["OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT"]),
        3: (act(3, "12:00", K3), ["OUTSIDE_ASSIGNMENT"]),
        # A vague fix is worth a look only when its circle leaves the assigned areas.
        4: (act(4, "13:00", K1, accuracyMeters=5000.0), ["LOW_ACCURACY"]),
        5: (act(5, "14:00", K1, accuracyMeters=None), []),
        6: (act(6, "15:00", K1, mockLocation=True), ["MOCK_LOCATION"]),
        # The assignment starts on 1 November, a WIB day: 23:30 WIB the day before is outside
        # it, 00:30 WIB on the day (17:30 UTC the day before) inside; both are night work.
        7: (act(7, "2026-10-31T23:30:00+07:00", K1), ["OUTSIDE_ASSIGNMENT", "OFF_HOURS"]),
        8: (act(8, "2026-11-01T00:30:00+07:00", K1), ["OFF_HOURS"]),
        9: (act(9, "09:00", KF, staff=T2), ["OUTSIDE_ASSIGNMENT"]),
        10: (act(10, "16:00", K1, accuracyMeters=150.0), []),
    }
    done = await send(api, *(payload for payload, _ in cases.values()))
    assert {n: done[tid(n)]["flags"] for n in cases} == {n: want for n, (_, want) in cases.items()}
    assert {n: done[tid(n)]["review"] for n in cases} == {
        n: "PENDING" if want else "NONE" for n, (_, want) in cases.items()}


async def test_a_clock_ahead_of_the_server_is_flagged(api: Api, staffed: AsyncConnection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def at(delta: timedelta) -> str:
        return (now + delta).isoformat()

    done = await send(
        api,
        act(1, at(timedelta(hours=-3)), K1, deviceTime=at(timedelta(minutes=10))),
        act(2, at(timedelta(minutes=10)), K1),
        act(3, at(timedelta(hours=-2)), K1, deviceTime=at(timedelta(minutes=2))),
        act(4, at(timedelta(hours=-1)), K1, deviceTime=at(timedelta(hours=-1))),
    )
    # (Whether it is also OFF_HOURS depends on when the test runs.)
    assert ["FUTURE_TIME" in done[tid(n)]["flags"] for n in (1, 2, 3, 4)] == [
        True, True, False, False]


async def test_impossible_speed_on_both_ends_of_the_leap(
        api: Api, staffed: AsyncConnection) -> None:
    done = await send(
        api,
        act(1, "09:00", K1), act(2, "09:05", KF),       # 17 km in 5 minutes: 206 km/h
        act(3, "09:20", KF), act(4, "09:35", K1),       # 17 km in 15 minutes: 68 km/h
        # At one instant a gap counts as a second: 20 m is 72 km/h, 100 m is 360 km/h.
        act(5, "13:00", K1, staff=T2), act(6, "13:00", metres_east(K1, 20), staff=T2),
        act(7, "15:00", K1, staff=T2), act(8, "15:00", metres_east(K1, 100), staff=T2),
    )
    speeding = {n for n in range(1, 9) if "IMPOSSIBLE_SPEED" in done[tid(n)]["flags"]}
    assert speeding == {1, 2, 7, 8}


async def test_a_late_offline_record_is_judged_with_its_neighbours(
        api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "09:00", K1), act(3, "11:00", KF))
    assert await judged(api, 1, 3) == {1: ([], "NONE"), 3: ([], "NONE")}

    # Synced hours later: at KF five minutes after being at K1.
    done = await send(api, act(2, "09:05", KF))
    assert done[tid(2)]["flags"] == SPEED
    assert await judged(api, 1, 3) == {1: (SPEED, "PENDING"), 3: ([], "NONE")}

    # Were it not there, the earlier record would be plausible again.
    await staffed.execute(text("DELETE FROM activities WHERE id = :id"), {"id": tid(2)})
    assert await evaluate(staffed, [uuid.UUID(tid(1)), uuid.UUID(tid(3))]) == 1
    await staffed.commit()
    assert await judged(api, 1, 3) == {1: ([], "NONE"), 3: ([], "NONE")}


async def test_a_late_record_can_clear_a_neighbour(api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "09:00", K1), act(3, "09:05", KF))
    assert await judged(api, 1, 3) == {1: (SPEED, "PENDING"), 3: (SPEED, "PENDING")}
    # At KF from 09:04: the leap is 1 -> 2 now; 2 -> 3 stays put.
    await send(api, act(2, "09:04", KF))
    assert await judged(api, 1, 2, 3) == {1: (SPEED, "PENDING"), 2: (SPEED, "PENDING"),
                                          3: ([], "NONE")}


async def test_a_burst_is_flagged_when_its_last_record_arrives(
        api: Api, staffed: AsyncConnection) -> None:
    # Five records in eight minutes within 40 m, sent one by one.
    for n in range(1, 5):
        await send(api, act(n, f"09:0{2 * (n - 1)}", metres_east(K1, 10 * (n - 1))))
    assert await judged(api, 1, 2, 3, 4) == {n: ([], "NONE") for n in range(1, 5)}
    await send(api, act(5, "09:08", metres_east(K1, 40)))
    assert await judged(api, 1, 2, 3, 4, 5) == {n: (BURST, "PENDING") for n in range(1, 6)}


async def test_no_burst_when_the_records_spread_out(api: Api, staffed: AsyncConnection) -> None:
    await send(
        api,
        # Four in six minutes: one short.
        *(act(n, f"09:0{2 * n}", K1, staff=T2) for n in range(4)),
        # Five, but the window of any fifth holds four: 11 minutes first to last.
        *(act(10 + n, at, K1, staff=T2) for n, at in enumerate(
            ["11:00", "11:03", "11:06", "11:09", "11:11"])),
        # Five in eight minutes, but 300 m apart.
        *(act(20 + n, f"13:0{2 * n}", metres_east(K1, 300 * (n % 2)), staff=T2)
          for n in range(5)),
    )
    flags = await judged(api, *range(4), *range(10, 15), *range(20, 25))
    assert not any("DUPLICATE_BURST" in f for f, _ in flags.values())


async def test_thresholds_come_from_the_settings(db_url: str, staffed: AsyncConnection) -> None:
    settings = settings_for(db_url, flag_max_accuracy_m=20.0, flag_max_speed_kmh=300.0,
                            flag_reach_kmh=300.0, flag_burst_count=2, flag_burst_minutes=1.0,
                            flag_burst_radius_m=5.0, flag_day_end_h=23.0)
    async for api in serve(settings):
        done = await send(api, act(1, "09:00", K1),
                          act(2, "09:05", KF),                          # 206 km/h < 300
                          act(3, "10:00", KF), act(4, "10:00", KF),     # two in a minute
                          act(5, "20:00", None, accuracyMeters=50.0))   # 19:00 < 20:00 < 23:00
    assert [done[tid(n)]["flags"] for n in (1, 2, 3, 4, 5)] == [
        [], [], BURST, BURST, ["OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT", "LOW_ACCURACY"]]


def test_thresholds_read_from_the_environment() -> None:
    s = Settings.from_env({"JANGKAU_FLAG_MAX_SPEED_KMH": "60", "JANGKAU_FLAG_BURST_COUNT": "3"})
    assert (s.flag_max_speed_kmh, s.flag_burst_count) == (60.0, 3)
    assert flag_settings(s)["jangkau.flag_max_speed_kmh"] == "60.0"
    assert flag_settings(s)["jangkau.flag_burst_count"] == "3"
    assert flag_settings(s)["jangkau.flag_max_accuracy_m"] == str(Settings().flag_max_accuracy_m)


def _new(n: int, at: datetime, place: Any, staff: uuid.UUID = T1,
         accuracy: float | None = 8.0) -> NewActivity:
    lon, lat = spot(place, staff)
    return NewActivity(id=uuid.UUID(tid(n)), staff_id=staff, category="POSYANDU", started_at=at,
                       ended_at=None, device_time=None, lon=lon, lat=lat, accuracy_m=accuracy,
                       mock_location=False, citizens_served=1, outcome=None, outcome_met=False,
                       note=None)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle metres (haversine, mean Earth radius)."""
    (x1, y1), (x2, y2) = (np.radians(a), np.radians(b))
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    return float(2 * 6_371_008.8 * np.arcsin(np.sqrt(h)))


async def _flags(conn: AsyncConnection, ns: list[int]) -> dict[int, list[str]]:
    rows = await conn.execute(text("SELECT id, flags FROM activities WHERE id = ANY(:ids)"),
                              {"ids": [uuid.UUID(tid(n)) for n in ns]})
    by_id = dict(rows.all())
    return {n: by_id[uuid.UUID(tid(n))] for n in ns}


async def test_the_sql_defaults_are_the_settings_defaults(staffed: AsyncConnection) -> None:
    """A connection with no `jangkau.flag_*` settings judges by the same numbers as Settings()."""
    s = Settings()
    t0 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    limit = timedelta(seconds=_metres(point(K1), point(KF)) / (s.flag_max_speed_kmh / 3.6))
    # In K3, which is not T1's: the accuracy circle cannot fit inside an assigned area.
    items = [_new(1, t0, K3, accuracy=s.flag_max_accuracy_m + 0.5),
             _new(2, t0 + timedelta(hours=1), K3, accuracy=s.flag_max_accuracy_m - 0.5),
             _new(3, t0 + timedelta(hours=2), K1),
             _new(4, t0 + timedelta(hours=2) + limit * 0.95, KF),
             _new(5, t0 + timedelta(hours=4), KF),
             _new(6, t0 + timedelta(hours=4) + limit * 1.05, K1)]
    await record(staffed, list(items), [str(i.id) for i in items])
    # 5 -> 6 is under the speed limit, but over the 45 km/h of city travel.
    assert await _flags(staffed, [1, 2, 3, 4, 5, 6]) == {
        1: ["OUTSIDE_ASSIGNMENT", "LOW_ACCURACY"], 2: ["OUTSIDE_ASSIGNMENT"], 3: SPEED, 4: SPEED,
        5: ["UNREACHABLE"], 6: ["UNREACHABLE"]}


async def _judgements(conn: AsyncConnection, ns: list[int]) -> dict[int, tuple[Any, ...]]:
    """Each record's whole judgement: flags, their reasons, confidence and review state."""
    rows = await conn.execute(text(
        "SELECT id, flags, flag_notes, confidence, review FROM activities WHERE id = ANY(:ids)"),
        {"ids": [uuid.UUID(tid(n)) for n in ns]})
    by_id = {r[0]: tuple(r[1:]) for r in rows}
    return {n: by_id[uuid.UUID(tid(n))] for n in ns}


def _mixed_track(n: int) -> list[NewActivity]:
    """`n` records of T1 and T2 in one day, close and far, some vague, mocked or off hours."""
    rng, extra = np.random.default_rng(5), np.random.default_rng(6)
    places = [K1, metres_east(K1, 15), metres_east(K1, 30), KF, K3, None]
    t0 = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    items = []
    for i in range(n):
        item = _new(i, t0 + timedelta(minutes=float(rng.integers(0, 480)),
                                      seconds=float(rng.integers(0, 3) * 30)),
                    places[int(rng.choice(6, p=[0.5, 0.15, 0.1, 0.1, 0.1, 0.05]))],
                    staff=T1 if rng.random() < 0.6 else T2,
                    accuracy=float(extra.choice([8.0, 40.0, 900.0], p=[0.8, 0.1, 0.1])))
        late = timedelta(hours=12) if extra.random() < 0.08 else timedelta(0)
        items.append(replace(item, started_at=item.started_at + late,
                             mock_location=bool(extra.random() < 0.05)))
    return items


async def test_incremental_judging_agrees_with_judging_everything(staffed: AsyncConnection) -> None:
    """Records arriving in any order, batch by batch, end up judged as one bulk pass judges them:
    the same flags, reasons, confidence and review states."""
    items = _mixed_track(300)
    order = np.random.default_rng(7).permutation(len(items))
    sizes = np.random.default_rng(8)
    start = 0
    while start < len(order):
        size = int(sizes.integers(1, 12))
        batch = [items[i] for i in order[start:start + size]]
        await record(staffed, list(batch), [str(i.id) for i in batch])
        start += size
    judged_one_by_one = await _judgements(staffed, list(range(300)))
    flags = [j[0] for j in judged_one_by_one.values()]
    for flag in ("IMPOSSIBLE_SPEED", "DUPLICATE_BURST", "LOW_ACCURACY", "MOCK_LOCATION",
                 "OFF_HOURS", "OUTSIDE_ASSIGNMENT"):
        assert sum(flag in f for f in flags) > 5, flag
    assert sum(not f for f in flags) > 10
    assert await staffed.scalar(text("SELECT rollups_drift()")) == 0
    await evaluate(staffed, None)     # (this also judges the seed, which no writer judged)
    assert await _judgements(staffed, list(range(300))) == judged_one_by_one


async def test_a_batch_stored_one_by_one_is_judged_as_a_whole(staffed: AsyncConnection) -> None:
    """When the database refuses one item of a batch, the others are stored one by one, each in
    a savepoint: they are judged as they would have been together, the refused one nowhere."""
    await staffed.execute(text("ALTER TABLE activities ADD CONSTRAINT refuse_note "
                               "CHECK (note IS DISTINCT FROM 'refused')"))
    items = _mixed_track(60)
    items[20] = replace(items[20], note="refused")
    answers = await record(staffed, list(items), [str(i.id) for i in items])
    assert [a.status for a in answers].count("CREATED") == 59
    assert answers[20].status == "REJECTED"
    stored = [n for n in range(60) if n != 20]
    judged_one_by_one = await _judgements(staffed, stored)
    assert sum(bool(j[0]) for j in judged_one_by_one.values()) > 10
    assert await staffed.scalar(text("SELECT rollups_drift()")) == 0
    await evaluate(staffed, None)
    assert await _judgements(staffed, stored) == judged_one_by_one


async def test_a_database_before_0020_records_and_judges_the_same(db_url: str) -> None:
    """`jangkau db upgrade` runs online, the new code already serving: on a database before
    migration 0020 the row triggers store a batch and its judgement judges all of it; the flags,
    reasons and review states are those of a bulk pass there too."""
    await asyncio.to_thread(migrate.downgrade, db_url, "0019")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regproc('activities_record')")) is None
            await add_staff(conn, T1, [K1, KF])
            await add_staff(conn, T2, [K1])
            await conn.commit()
            items = _mixed_track(60)
            answers = await record(conn, list(items), [str(i.id) for i in items])
            assert {a.status for a in answers} == {"CREATED"}
            judged = await _judgements(conn, list(range(60)))
            assert sum(bool(j[0]) for j in judged.values()) > 10
            assert await conn.scalar(text("SELECT rollups_drift()")) == 0
            await evaluate(conn, None)
            assert await _judgements(conn, list(range(60))) == judged
    finally:
        await engine.dispose()


async def test_a_new_record_is_stored_with_what_it_says_about_itself(
        db_url: str, staffed: AsyncConnection) -> None:
    """Judged alone before it is stored: a record flagged for itself only (outside its
    assignment, a vague fix, a mocked location, off hours) is inserted with its flags and never
    updated, so the live map hears of it once. A verdict that needs its neighbours still
    updates the records it concerns, the new one and the stored one."""
    listener = await asyncpg.connect(db_url)
    heard: list[str] = []
    await listener.add_listener(CHANNEL, lambda *args: heard.append(args[3]))
    try:
        t0 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
        alone = [_new(1, t0, K3), _new(2, t0 + timedelta(hours=1), K1, accuracy=900.0),
                 replace(_new(3, t0 + timedelta(hours=2), K1), mock_location=True),
                 _new(4, t0 + timedelta(hours=14), K1), _new(5, t0 + timedelta(hours=3), K1)]
        await record(staffed, alone, [str(i.id) for i in alone])
        # 17 km from record 5 in five minutes: both ends of the leap are flagged.
        leap = [_new(6, t0 + timedelta(hours=3, minutes=5), KF)]
        await record(staffed, leap, [str(i.id) for i in leap])
        await staffed.execute(text("SELECT pg_sleep(0.2)"))     # (notifications come async)
    finally:
        await listener.close()
    assert await _flags(staffed, [1, 2, 3, 4, 5, 6]) == {
        1: ["OUTSIDE_ASSIGNMENT"], 2: ["LOW_ACCURACY"], 3: ["MOCK_LOCATION"], 4: ["OFF_HOURS"],
        5: SPEED, 6: SPEED}
    changes = [parse_payload(p) for p in heard]
    inserted = {i for c in changes if c and c[0] for i in c[1]}
    updated = {i for c in changes if c and not c[0] for i in c[1]}
    assert inserted == {uuid.UUID(tid(n)) for n in range(1, 7)}
    assert updated == {uuid.UUID(tid(5)), uuid.UUID(tid(6))}


async def test_writers_of_one_staff_member_see_each_other(
        engine: AsyncEngine, staffed: AsyncConnection) -> None:
    """Two open transactions record neighbouring activities; the second waits for the first."""
    t0 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    first, second = _new(1, t0, K1), _new(2, t0 + timedelta(minutes=5), KF)
    async with engine.connect() as one, engine.connect() as two:
        pid = await two.scalar(text("SELECT pg_backend_pid()"))
        await two.commit()
        await one.execute(text("""
            INSERT INTO activities (id, staff_id, category_code, started_at, geom, citizens_served,
                                    outcome_met)
            VALUES (:id, :s, 'POSYANDU', :t, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 1, false)"""),
            {"id": first.id, "s": T1, "t": first.started_at, "x": first.lon, "y": first.lat})
        assert await evaluate(one, [first.id]) == 0      # alone, it is plausible
        task = asyncio.create_task(record(two, [second], [str(second.id)]))
        waiting = text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p")
        while not task.done() and not await staffed.scalar(waiting, {"p": pid}):
            await staffed.rollback()
            await asyncio.sleep(0.05)
        await staffed.rollback()
        await one.commit()
        await task
    assert await _flags(staffed, [1, 2]) == {1: SPEED, 2: SPEED}


async def test_the_seed_is_stored_unjudged(conn: AsyncConnection) -> None:
    """The seed is written by plain SQL, past the write path: no flags, so every figure other
    tests rely on holds. Judged, six of its records would be flagged."""
    rows = (await conn.execute(text("SELECT id, flags, review FROM activities"))).all()
    assert {r.id for r in rows} == {a[0] for a in ACTIVITIES}
    assert {(tuple(r.flags), r.review) for r in rows} == {((), "NONE")}
    n_changed = await evaluate(conn, [a[0] for a in ACTIVITIES])
    assert dict((await conn.execute(text(
        "SELECT id, flags FROM activities WHERE flags <> '{}'"))).all()) == {
        aid(1): ["OFF_HOURS"],                            # 00:30 WIB
        # The seed puts everyone in K1 (and K2) at one point: copies, days apart.
        aid(3): ["COPIED_LOCATION"],                      # S1's point of 1 October
        aid(5): ["COPIED_LOCATION"],                      # S2's point in K2 the day before
        aid(6): ["OUTSIDE_ASSIGNMENT"],                   # S3 in K3, assigned to K2 only
        aid(7): ["OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT"],   # the Madura strait
        aid(8): ["COPIED_LOCATION", "OFF_HOURS"],         # 23:59 WIB, at S1's point
    }
    assert n_changed == 6
    await conn.rollback()

"""Activities partitioned by WIB month: the id unique across months, the default partition never in
the way of a new month, partitions kept ahead, references through `activity_ids`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import partitions
from geo.partitions import ensure_ahead
from tests.conftest import Api
from tests.payloads import RECORD_MANY, activity, new_id
from tests.seed import aid

PLACE = text("SELECT tableoid::regclass::text FROM activities WHERE id = :id")
ROLLUPS = text("""
    SELECT (SELECT string_agg(r::text, '|' ORDER BY r::text) FROM rollup_area_day r),
           (SELECT string_agg(p::text, '|' ORDER BY p::text) FROM rollup_presence p)""")


async def _partitions(conn: AsyncConnection) -> dict[str, tuple[str, str]]:
    rows = await conn.execute(text("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'activities'::regclass"""))
    return {r[0]: r[1] for r in rows}


async def test_months_ahead_are_created_once_with_wib_bounds(conn: AsyncConnection) -> None:
    now = datetime(2031, 1, 31, 17, 30, tzinfo=UTC)      # 1 February 2031, 00:30 WIB
    assert await ensure_ahead(conn, 2, now) == 3
    assert await ensure_ahead(conn, 2, now) == 0
    parts = await _partitions(conn)
    assert parts["activities_p2031_02"] == (
        "FOR VALUES FROM ('2031-01-31 17:00:00+00') TO ('2031-02-28 17:00:00+00')")
    assert {"activities_p2031_03", "activities_p2031_04", "activities_default"} <= set(parts)
    assert "activities_p2031_01" not in parts and "activities_p2031_05" not in parts


async def test_a_month_held_by_the_default_partition_is_moved_into_its_own(
        conn: AsyncConnection) -> None:
    # The seed's October lies in the default partition of a freshly migrated database.
    assert await conn.scalar(PLACE, {"id": aid(1)}) == "activities_default"
    count = text("SELECT count(*) FROM activities")
    before = (await conn.scalar(count), (await conn.execute(ROLLUPS)).one(),
              await conn.scalar(text("SELECT count(*) FROM activity_ids")))
    assert await conn.scalar(text(
        "SELECT activities_partitions_ensure('2026-10-15', '2026-10-15')")) == 1
    await conn.commit()
    assert await conn.scalar(PLACE, {"id": aid(1)}) == "activities_p2026_10"
    assert await conn.scalar(text(
        "SELECT count(*) FROM activities_default WHERE started_at < '2026-11-01 00:00+07' "
        "AND started_at >= '2026-10-01 00:00+07'")) == 0
    # The rows changed tables only: counted once, rolled up as before, their ids kept.
    assert (await conn.scalar(count), (await conn.execute(ROLLUPS)).one(),
            await conn.scalar(text("SELECT count(*) FROM activity_ids"))) == before


async def _record(api: Api, payloads: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    data = await api.data(RECORD_MANY, {"i": payloads})
    return [(r["status"], r["error"] and r["error"]["code"]) for r in data["recordActivities"]]


async def test_the_same_id_in_another_month_is_a_duplicate_or_a_conflict(api: Api) -> None:
    async with api.http.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        await conn.execute(text("SELECT activities_partitions_ensure('2026-10-01', '2026-11-30')"))
        await conn.commit()
    october = activity(1)                                         # 20 October 2026
    november = {**october, "startedAt": "2026-11-03T09:00:00+07:00"}
    assert await _record(api, [october]) == [("CREATED", None)]
    assert await _record(api, [october, november]) == [("DUPLICATE", None),
                                                       ("REJECTED", "CONFLICT")]
    # In one batch too: the first wins, whichever month the second names.
    first = {**activity(2), "startedAt": "2026-11-04T09:00:00+07:00"}
    assert await _record(api, [first, {**first, "startedAt": "2026-10-04T09:00:00+07:00"}]) == [
        ("CREATED", None), ("REJECTED", "CONFLICT")]
    async with api.http.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = (await conn.execute(text(
            "SELECT id::text, tableoid::regclass::text FROM activities WHERE id = ANY(:ids)"),
            {"ids": [new_id(1), new_id(2)]})).all()
    assert sorted(rows) == [(new_id(1), "activities_p2026_10"), (new_id(2), "activities_p2026_11")]


async def test_a_direct_insert_of_a_known_id_in_another_month_adds_no_row(
        conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT activities_partitions_ensure('2026-09-01', '2026-11-30')"))
    copy = text("""
        INSERT INTO activities (id, staff_id, category_code, started_at, geom, citizens_served,
                                outcome_met)
        SELECT id, staff_id, category_code, started_at + interval '35 days', geom,
               citizens_served, outcome_met
        FROM activities WHERE id = :id""")
    assert (await conn.execute(copy, {"id": aid(1)})).rowcount == 0
    assert await conn.scalar(text("SELECT count(*) FROM activities WHERE id = :id"),
                             {"id": aid(1)}) == 1


async def test_an_activity_keeps_its_month(conn: AsyncConnection) -> None:
    await conn.execute(text(
        "UPDATE activities SET started_at = started_at + interval '1 minute' WHERE id = :id"),
        {"id": aid(1)})
    moved = await conn.scalar(text(
        "SELECT a.started_at = i.started_at FROM activities a JOIN activity_ids i USING (id) "
        "WHERE id = :id"), {"id": aid(1)})
    assert moved is True
    await conn.commit()
    with pytest.raises(IntegrityError, match="cannot move from one month to another"):
        await conn.execute(text(
            "UPDATE activities SET started_at = started_at + interval '40 days' WHERE id = :id"),
            {"id": aid(1)})
    await conn.rollback()


async def test_a_deleted_activity_releases_its_id_and_its_reviews(conn: AsyncConnection) -> None:
    flagged = await conn.scalar(text("SELECT id FROM activities WHERE flags <> '{}' LIMIT 1"))
    await conn.execute(text("""
        INSERT INTO flag_reviews (activity_id, decision, reason, flags_at_review)
        SELECT id, 'ACCEPTED', 'checked', flags FROM activities WHERE id = :id"""),
        {"id": flagged})
    await conn.execute(text("DELETE FROM activities WHERE id = :id"), {"id": flagged})
    left = (await conn.execute(text("""
        SELECT (SELECT count(*) FROM activity_ids WHERE id = :id),
               (SELECT count(*) FROM flag_reviews WHERE activity_id = :id)"""),
        {"id": flagged})).one()
    assert tuple(left) == (0, 0)
    await conn.rollback()


async def test_a_review_of_an_unknown_activity_is_refused(conn: AsyncConnection) -> None:
    with pytest.raises(IntegrityError, match="flag_reviews_activity_id_fkey"):
        await conn.execute(text("""
            INSERT INTO flag_reviews (activity_id, decision, reason, flags_at_review)
            VALUES (gen_random_uuid(), 'ACCEPTED', 'checked', '{MOCK_LOCATION}')"""))
    await conn.rollback()


async def test_a_backdated_recording_gets_its_months_partition_unless_archived(
        api: Api) -> None:
    """recordActivities creates a missing month's partition before writing (the months ahead
    are kept only forward), so late rows do not pile up in the default partition; an archived
    month is not brought back by a late row (geo.archive restores it whole)."""
    engine = api.http.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        await conn.execute(text(
            "INSERT INTO activity_archives (month, rows, file) VALUES ('2025-05-01', 0, 'x')"))
        await conn.commit()
    march = {**activity(1), "startedAt": "2025-03-31T23:30:00+07:00"}   # 16:30 UTC: March
    may = {**activity(2), "startedAt": "2025-05-10T09:00:00+07:00"}
    assert await _record(api, [march, may]) == [("CREATED", None), ("CREATED", None)]
    async with engine.connect() as conn:
        parts = await _partitions(conn)
        placed = dict((await conn.execute(text(
            "SELECT id::text, tableoid::regclass::text FROM activities WHERE id = ANY(:ids)"),
            {"ids": [new_id(1), new_id(2)]})).all())
        rollups_exact = await conn.scalar(text("SELECT rollups_drift() = 0"))
    assert parts["activities_p2025_03"] == (
        "FOR VALUES FROM ('2025-02-28 17:00:00+00') TO ('2025-03-31 17:00:00+00')")
    assert "activities_p2025_05" not in parts
    assert placed == {new_id(1): "activities_p2025_03", new_id(2): "activities_default"}
    assert rollups_exact


async def test_a_partition_that_cannot_be_created_now_leaves_the_write_as_it_was(
        api: Api, conn: AsyncConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    """Creation gives way to a lock held elsewhere (500 ms): the batch is written all the same,
    into the default partition; a later batch of that month creates the partition, and the
    row moves into it."""
    monkeypatch.setattr(partitions, "RETRY_S", 0.0)
    await conn.execute(text("LOCK TABLE activities IN SHARE UPDATE EXCLUSIVE MODE"))
    june = {**activity(1), "startedAt": "2025-06-10T09:00:00+07:00"}
    assert await _record(api, [june]) == [("CREATED", None)]
    await conn.rollback()                                          # the lock goes
    assert await conn.scalar(PLACE, {"id": new_id(1)}) == "activities_default"
    await conn.rollback()
    later = {**activity(2), "startedAt": "2025-06-11T09:00:00+07:00"}
    assert await _record(api, [later]) == [("CREATED", None)]
    placed = {await conn.scalar(PLACE, {"id": new_id(n)}) for n in (1, 2)}
    assert placed == {"activities_p2025_06"}

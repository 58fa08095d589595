"""Archive and restore of old months (issue 14): a round trip gives back the same rows, the same
flag reviews and the same figures; archived months keep their figures until forgotten; a bad
month or file is refused with a clear message and changes nothing."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo import archive
from geo.coverage import coverage
from geo.db import create_engine
from geo.demo import load_demo
from geo.errors import BadInput, Conflict, NotFound
from geo.periods import Period
from tests.dbstate import fingerprint
from tests.test_cli import jangkau

UNTIL = date(2026, 10, 31)          # the demo's 90 days: 2026-08-02 .. 2026-10-31
TODAY = date(2026, 12, 2)
BEFORE = date(2026, 10, 1)          # archive August and September
OLD = Period(date(2026, 8, 1), date(2026, 9, 30))
ALL = Period(date(2026, 8, 1), UNTIL)
REVIEWED = 6


@pytest.fixture
async def engine(bare_db_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_engine(bare_db_url, pool_size=2, statement_timeout_ms=0)
    async with e.connect() as conn:
        await load_demo(conn, 3000, seed=5, until=UNTIL)
        # Reviews of flagged August rows: dependents that must travel with their activities.
        await conn.execute(text("""
            WITH picked AS (
                SELECT id, flags FROM activities
                WHERE review = 'PENDING' AND started_at < '2026-09-01 00:00+07'
                ORDER BY id LIMIT :n)
            INSERT INTO flag_reviews (activity_id, decision, reason, reviewer, flags_at_review)
            SELECT id, 'ACCEPTED', 'checked on site', 'test', flags FROM picked"""),
            {"n": REVIEWED})
        await conn.execute(text("""
            UPDATE activities SET review = 'ACCEPTED'
            WHERE id IN (SELECT activity_id FROM flag_reviews)"""))
        await conn.commit()
    yield e
    await e.dispose()


async def _rows(conn: AsyncConnection, table: str) -> list[str]:
    return list((await conn.execute(text(
        f"SELECT t::text FROM {table} t ORDER BY t::text"))).scalars())


async def _rollups(conn: AsyncConnection) -> tuple[list[str], list[str]]:
    return await _rows(conn, "rollup_area_day"), await _rows(conn, "rollup_presence")


async def _figures(conn: AsyncConnection, period: Period, *, rollups: bool = True) -> object:
    return [await coverage(conn, level, period, None, rollups=rollups)
            for level in ("KELURAHAN", "KECAMATAN", "CITY")]


async def _exact_outside_archives(conn: AsyncConnection) -> None:
    """The rollups equal the base table on every day not kept for an archived month."""
    live = Period(BEFORE, UNTIL)
    assert await _figures(conn, live) == await _figures(conn, live, rollups=False)
    assert await archive.rollups_drift(conn) == 0


async def test_archive_then_restore_round_trips(conn: AsyncConnection, tmp_path: Path) -> None:
    rows, reviews = await _rows(conn, "activities"), await _rows(conn, "flag_reviews")
    rollups, figures = await _rollups(conn), await _figures(conn, ALL)
    old = await conn.scalar(text(
        "SELECT count(*) FROM activities WHERE started_at < '2026-10-01 00:00+07'"))
    assert len(reviews) == REVIEWED and old > 1000
    assert await archive.rollups_drift(conn) == 0

    file = tmp_path / "2026-08_09.tar.gz"
    moved = await archive.archive(conn, BEFORE, file, today=TODAY)
    assert moved.months == (date(2026, 8, 1), date(2026, 9, 1))
    assert moved.activities == old and moved.dependents == {"flag_reviews": REVIEWED}
    assert file.is_file()
    assert await conn.scalar(text("SELECT count(*) FROM activities")) == len(rows) - old
    assert await conn.scalar(text("SELECT count(*) FROM flag_reviews")) == 0
    assert [(a.month, a.figures_forgotten_at) for a in await archive.archives(conn)] == [
        (date(2026, 8, 1), None), (date(2026, 9, 1), None)]
    # The figures did not move: the rollups keep the archived months until told otherwise.
    assert await _rollups(conn) == rollups
    assert await _figures(conn, ALL) == figures
    await _exact_outside_archives(conn)

    restored = await archive.restore(conn, file)
    assert restored.months == moved.months and restored.activities == old
    assert await _rows(conn, "activities") == rows
    assert await _rows(conn, "flag_reviews") == reviews
    assert await _rollups(conn) == rollups
    assert await _figures(conn, ALL) == figures == await _figures(conn, ALL, rollups=False)
    assert await archive.archives(conn) == []
    assert await conn.scalar(text("SELECT to_regclass('activities_p2026_08') IS NOT NULL"))


async def test_figures_stay_until_forgotten(conn: AsyncConnection, tmp_path: Path) -> None:
    rollups, figures = await _rollups(conn), await _figures(conn, ALL)
    file = tmp_path / "old.tar.gz"
    await archive.archive(conn, BEFORE, file, today=TODAY)

    # The check knows the kept months: it would count them as drift otherwise.
    await conn.execute(text("UPDATE activity_archives SET figures_forgotten_at = now()"))
    assert await archive.rollups_drift(conn) > 0
    await conn.rollback()
    # A rebuild (as a bulk load runs) keeps what is archived, too.
    await conn.execute(text("SELECT rollups_rebuild()"))
    await conn.commit()
    assert await _rollups(conn) == rollups and await _figures(conn, ALL) == figures

    assert await archive.forget_figures(conn, BEFORE) == [date(2026, 8, 1), date(2026, 9, 1)]
    gone = await _figures(conn, OLD)
    assert gone == await _figures(conn, OLD, rollups=False)
    assert all(c.activities == 0 for level in gone for c in level)        # type: ignore[attr-defined]
    assert await conn.scalar(text(
        "SELECT count(*) FROM rollup_area_day WHERE day < '2026-10-01'")) == 0
    assert all(a.figures_forgotten_at for a in await archive.archives(conn))
    await _exact_outside_archives(conn)
    with pytest.raises(NotFound, match="still has its figures"):
        await archive.forget_figures(conn, BEFORE)

    # Restoring brings the forgotten figures back, exactly.
    await archive.restore(conn, file)
    assert await _rollups(conn) == rollups and await _figures(conn, ALL) == figures


async def test_bad_months_are_refused(conn: AsyncConnection, tmp_path: Path) -> None:
    for bad in ("2026-13", "2026-9-1", "Oktober", "1999-01", ""):
        with pytest.raises(BadInput, match="a month like 2026-09"):
            archive.parse_month(bad, "--before")
    with pytest.raises(BadInput, match="current month or later"):
        await archive.archive(conn, date(2027, 1, 1), tmp_path / "x", today=TODAY)
    with pytest.raises(NotFound, match="before 2026-08 is left to archive"):
        await archive.archive(conn, date(2026, 8, 1), tmp_path / "x", today=TODAY)
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(Conflict, match="never overwrites"):
        await archive.archive(conn, BEFORE, tmp_path / "taken", today=TODAY)
    assert (tmp_path / "taken").read_text() == "mine"
    assert await archive.archives(conn) == []


def _tamper(source: Path, target: Path, member: str) -> None:
    """A copy of `source` with one byte of `member` changed."""
    with tarfile.open(source, "r:gz") as tar, tarfile.open(target, "w:gz") as out:
        for info in tar.getmembers():
            body = bytearray(tar.extractfile(info).read())       # type: ignore[union-attr]
            if info.name == member:
                body[len(body) // 2] ^= 1
            out.addfile(info, io.BytesIO(bytes(body)))


async def test_bad_files_are_refused_and_change_nothing(
        conn: AsyncConnection, engine: AsyncEngine, tmp_path: Path) -> None:
    file = tmp_path / "old.tar.gz"
    await archive.archive(conn, BEFORE, file, today=TODAY)
    before = await fingerprint(engine)

    with pytest.raises(NotFound, match="no archive file"):
        await archive.restore(conn, tmp_path / "missing.tar.gz")
    (tmp_path / "text").write_text("not an archive")
    with pytest.raises(BadInput, match="not a gzip'd tar"):
        await archive.restore(conn, tmp_path / "text")
    (tmp_path / "other.tar.gz").write_bytes(gzip.compress(b"\0" * 1024))
    with pytest.raises(BadInput, match="not a Jangkau activities archive"):
        await archive.restore(conn, tmp_path / "other.tar.gz")
    _tamper(file, tmp_path / "damaged.tar.gz", "activities_p2026_09.copy")
    with pytest.raises(BadInput, match="activities_p2026_09.copy does not match its checksum"):
        await archive.restore(conn, tmp_path / "damaged.tar.gz")
    assert await fingerprint(engine) == before
    assert len(await archive.archives(conn)) == 2

    await archive.restore(conn, file)
    with pytest.raises(Conflict, match="2026-08 is not archived in this database"):
        await archive.restore(conn, file)
    with tarfile.open(file, "r:gz") as tar:
        manifest = json.loads(tar.extractfile(archive.MANIFEST).read())  # type: ignore[union-attr]
    assert manifest["months"] == ["2026-08", "2026-09"]


async def test_cli_round_trip_and_errors(conn: AsyncConnection, bare_db_url: str,
                                         tmp_path: Path) -> None:
    rows = await _rows(conn, "activities")
    await conn.close()
    home, file = tmp_path / "home", tmp_path / "a.tar.gz"
    bad = await jangkau(bare_db_url, home, "activities", "archive", "--before", "2026-13",
                        "--to", str(file))
    assert bad.code == 2 and "--before must be a month like 2026-09" in bad.output
    done = await jangkau(bare_db_url, home, "activities", "archive", "--before", "2026-10",
                         "--to", str(file))
    assert done.code == 0 and "2026-08, 2026-09" in done.output, done.output
    assert "figures stay in the rollups" in done.output
    listed = await jangkau(bare_db_url, home, "activities", "archives")
    assert "2026-08" in listed.output and "figures kept" in listed.output
    checked = await jangkau(bare_db_url, home, "activities", "check-rollups")
    assert checked.code == 0 and "exact" in checked.output, checked.output
    back = await jangkau(bare_db_url, home, "activities", "restore", str(file))
    assert back.code == 0 and "restored" in back.output, back.output
    e = create_engine(bare_db_url, pool_size=1)
    async with e.connect() as c:
        assert await _rows(c, "activities") == rows
    await e.dispose()


async def test_a_late_row_of_an_archived_month_is_kept_and_restored_with_it(
        conn: AsyncConnection, tmp_path: Path) -> None:
    rows = await _rows(conn, "activities")
    file = tmp_path / "old.tar.gz"
    await archive.archive(conn, BEFORE, file, today=TODAY)
    late = await conn.scalar(text("""
        INSERT INTO activities (id, staff_id, category_code, started_at, received_at, geom,
                                citizens_served, outcome_code, outcome_met)
        SELECT gen_random_uuid(), staff_id, category_code, '2026-08-15 09:00+07', received_at,
               geom, citizens_served, outcome_code, outcome_met
        FROM activities ORDER BY id LIMIT 1
        RETURNING id::text"""))
    await conn.commit()
    # It lands in the default partition, and counts on top of the kept figures.
    assert await conn.scalar(text(
        "SELECT count(*) FROM activities_default WHERE id = CAST(:id AS uuid)"), {"id": late}) == 1

    await archive.restore(conn, file)
    after = await _rows(conn, "activities")
    assert len(after) == len(rows) + 1 and set(rows) < set(after)
    assert await conn.scalar(text("SELECT count(*) FROM activities_default")) == 0
    exact = await _rollups(conn)
    await conn.execute(text("SELECT rollups_rebuild()"))
    assert await _rollups(conn) == exact

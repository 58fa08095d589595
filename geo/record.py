"""Recording activities: validated, idempotent on the client's UUID, all valid items stored.

A batch is answered item by item, in order. The same id with the same content is a DUPLICATE
(the stored row is the answer); the same id with other content is a CONFLICT and changes
nothing. Valid items are written in one statement and committed before the answer goes out, so
nothing acknowledged is lost; should the database still refuse one, each item is retried alone
so that one bad row cannot sink the others.

A batch in the database, in order, one transaction: (1) one statement checks the staff,
categories and outcomes it names, and holds the rollups back for the transaction; (2) one call
of `activities_record` (migration 0020) claims the new items' ids, gives each its kelurahan,
judges what each says about itself alone and stores them with those flags; (3) `judge_new`
(`activities_judge`) judges, under the per-staff locks that concurrent writers of the same
person wait for, what the new rows' neighbours add to their flags and they to the neighbours';
it recounts the neighbours whose counting changed, and then adds the new rows to the rollups
once, in their final review state; (4) COMMIT, which also delivers the NOTIFY of the inserted
and changed ids (migration 0010) and releases the locks.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import partitions
from geo.codes import unknown
from geo.errors import BadInput, Conflict, JangkauError, NotFound
from geo.periods import check_instant
from geo.plausibility import judge_new
from geo.validate import parse_point

log = logging.getLogger("jangkau.record")

MAX_CITIZENS = 10_000
MAX_NOTE = 4_000
MAX_DURATION = timedelta(hours=24)
FUTURE_TOLERANCE = timedelta(hours=1)
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NewActivity:
    id: uuid.UUID
    staff_id: uuid.UUID
    category: str
    started_at: datetime
    ended_at: datetime | None
    device_time: datetime | None
    lon: float
    lat: float
    accuracy_m: float | None
    mock_location: bool
    citizens_served: int
    outcome: str | None
    outcome_met: bool
    note: str | None


@dataclass(frozen=True)
class Recorded:
    id: str
    status: str                   # CREATED | DUPLICATE | REJECTED
    error: JangkauError | None = None


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(f"{what}: {str(value)[:60]!r} is not a UUID") from None


def _text(fields: dict[str, Any], key: str) -> Any:
    """PostgreSQL text cannot hold NUL: refuse it here, as this item's error, not the batch's."""
    value = fields.get(key)
    if value is not None and "\x00" in value:
        raise BadInput(f"{key} must not contain NUL characters")
    return value


def check_item(fields: dict[str, Any], now: datetime) -> NewActivity | JangkauError:
    """`check_activity`, total: whatever is wrong with one item is that item's answer alone.

    An unexpected exception is a bug: logged with its trace, answered INTERNAL_SERVER_ERROR
    for this item only, so that the batch's valid items are still stored.
    """
    try:
        return check_activity(fields, now)
    except JangkauError as exc:
        return exc
    except Exception:
        log.exception("unexpected error checking activity %.60r", fields.get("id"))
        return JangkauError("this activity could not be checked; the error has been logged",
                            code="INTERNAL_SERVER_ERROR")


def check_activity(fields: dict[str, Any], now: datetime) -> NewActivity:
    """Turn client fields into a NewActivity, or raise an error that says what to fix."""
    started = check_instant(fields["started_at"], "startedAt")
    ended = check_instant(fields["ended_at"], "endedAt") if fields.get("ended_at") else None
    device = (check_instant(fields["device_time"], "deviceTime") if fields.get("device_time")
              else None)
    if started < EARLIEST:
        raise BadInput(f"startedAt {started:%Y-%m-%d} is before {EARLIEST:%Y-%m-%d}")
    if started > now + FUTURE_TOLERANCE:
        raise BadInput(f"startedAt {started.isoformat()} lies in the future")
    if ended is not None and not started <= ended <= started + MAX_DURATION:
        raise BadInput("endedAt must lie between startedAt and 24 hours after it")
    lon, lat = parse_point(fields["location"], where="location")
    accuracy = fields.get("accuracy_m")
    if accuracy is not None and not (math.isfinite(accuracy) and 0 <= accuracy <= 100_000):
        raise BadInput("accuracyMeters must be between 0 and 100000")
    citizens = fields["citizens_served"]
    if not 0 <= citizens <= MAX_CITIZENS:
        raise BadInput(f"citizensServed must be between 0 and {MAX_CITIZENS}, got {citizens}")
    note = _text(fields, "note")
    if note is not None and len(note) > MAX_NOTE:
        raise BadInput(f"note is {len(note)} characters; the maximum is {MAX_NOTE}",
                       code="LIMIT_EXCEEDED")
    return NewActivity(
        id=parse_uuid(fields["id"], "id"), staff_id=parse_uuid(fields["staff_id"], "staffId"),
        category=_text(fields, "category"), started_at=started, ended_at=ended,
        device_time=device, lon=lon, lat=lat, accuracy_m=accuracy,
        mock_location=bool(fields.get("mock_location") or False), citizens_served=citizens,
        outcome=_text(fields, "outcome"), outcome_met=fields["outcome_met"],
        note=note)


# The batch as one array per NewActivity field, in field order (PARAMS names them).
ARRAYS = """CAST(:id AS uuid[]), CAST(:staff AS uuid[]), CAST(:cat AS text[]),
        CAST(:t0 AS timestamptz[]), CAST(:t1 AS timestamptz[]), CAST(:td AS timestamptz[]),
        CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:acc AS float8[]),
        CAST(:mock AS boolean[]), CAST(:cit AS integer[]), CAST(:out AS text[]),
        CAST(:met AS boolean[]), CAST(:note AS text[])"""

# Stored, each judged alone, in one call: `activities_record` (migration 0020) claims the ids,
# gives each point its kelurahan, judges what each record says about itself and inserts the rows
# with those flags; it returns the ids it stored (an id already stored is not stored again).
STORE = f"SELECT activities_record({ARRAYS})"

# The same on a database not yet at 0020 (`jangkau db upgrade` runs online, the new code already
# serving): the row triggers claim the ids and assign the kelurahan, and `judge_new` judges all.
STORE_BEFORE_0020 = f"""
    WITH stored AS (
        INSERT INTO activities (id, staff_id, category_code, started_at, ended_at, device_time,
            geom, accuracy_m, mock_location, citizens_served, outcome_code, outcome_met, note)
        SELECT id, staff_id, category_code, started_at, ended_at, device_time,
            ST_SetSRID(ST_MakePoint(lon, lat), 4326), accuracy_m, mock_location, citizens_served,
            outcome_code, outcome_met, note
        FROM unnest({ARRAYS})
            AS t(id, staff_id, category_code, started_at, ended_at, device_time, lon, lat,
                 accuracy_m, mock_location, citizens_served, outcome_code, outcome_met, note)
        ON CONFLICT DO NOTHING
        RETURNING id)
    SELECT coalesce(array_agg(id), '{{}}') FROM stored
"""

STORED = """
    SELECT id, staff_id, category_code, started_at, ended_at, device_time, ST_X(geom), ST_Y(geom),
           accuracy_m, mock_location, citizens_served, outcome_code, outcome_met, note
    FROM activities WHERE id = ANY(:ids)
"""

# The INSERT's parameter of each NewActivity field, in the field order STORED reads them back.
PARAMS = dict(zip((f.name for f in fields(NewActivity)),
                  ("id", "staff", "cat", "t0", "t1", "td", "lon", "lat", "acc", "mock", "cit",
                   "out", "met", "note"), strict=True))


def _columns(items: list[NewActivity]) -> dict[str, list[Any]]:
    """One array per column, read straight off the items (`astuple` would deep-copy each)."""
    return {param: [getattr(i, name) for i in items] for name, param in PARAMS.items()}


# The batch's staff, categories and outcomes that exist: one round trip for the three, which
# also tells the INSERT's rollup trigger to leave the rows to `judge_new` (geo.plausibility),
# and says whether the database can judge a record before it stores it (migration 0020).
KNOWN = """
    SELECT ARRAY(SELECT id FROM staff WHERE id = ANY(:staff)),
           ARRAY(SELECT code FROM service_categories WHERE code = ANY(:cats)),
           ARRAY(SELECT code FROM indicators WHERE code = ANY(:outs)),
           set_config('jangkau.rollups_after_judging', 'on', true),
           to_regproc('activities_record') IS NOT NULL
"""


async def _missing_references(conn: AsyncConnection, items: list[NewActivity]
                              ) -> tuple[dict[uuid.UUID, JangkauError], bool]:
    """The items that name what does not exist, with the reason; and whether the database
    judges before it stores (KNOWN)."""
    wanted_cats = {i.category for i in items}
    wanted_outs = {i.outcome for i in items if i.outcome}
    found = (await conn.execute(text(KNOWN), {
        "staff": list({i.staff_id for i in items}), "cats": list(wanted_cats),
        "outs": list(wanted_outs)})).one()
    staff, cats, outs = set(found[0]), set(found[1]), set(found[2])
    # Recorded codes must be exact (a sync client sends what it was given): name the closest.
    hints = {("service_categories", c): await unknown(conn, "service_categories", c)
             for c in wanted_cats - cats}
    hints |= {("indicators", o): await unknown(conn, "indicators", o, "outcome indicator")
              for o in wanted_outs - outs}
    bad: dict[uuid.UUID, JangkauError] = {}
    for i in items:
        if i.staff_id not in staff:
            bad[i.id] = NotFound(f"unknown staff id {i.staff_id}")
        elif i.category not in cats:
            bad[i.id] = hints["service_categories", i.category]
        elif i.outcome is not None and i.outcome not in outs:
            bad[i.id] = hints["indicators", i.outcome]
    return bad, bool(found[4])


# SQLSTATE classes that blame a row's values: data exceptions, constraint violations, a
# trigger's RAISE. Anything else (a deadlock, a lost connection) is no fault of the item:
# answering it REJECTED would tell an offline phone to drop a valid record, so it fails the
# call, nothing is acknowledged, and the client resends.
ITEM_FAULTS = ("22", "23", "P0")


def _refused_for_its_values(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(state, str) and state[:2] in ITEM_FAULTS


async def _insert(conn: AsyncConnection, items: list[NewActivity], store: str) -> set[uuid.UUID]:
    """Store with `store`, returning the ids that were new. One statement; per item only if it
    fails.

    The batch's statement needs no savepoint (two round trips): it is the transaction's first
    write, so when the database refuses it the transaction is rolled back whole and the items
    are tried one by one, each in a savepoint of a new transaction.
    """
    if not items:
        return set()
    try:
        return set(await conn.scalar(text(store), _columns(items)))
    except DBAPIError as exc:
        if not _refused_for_its_values(exc):
            raise
    await conn.rollback()
    created: set[uuid.UUID] = set()
    for item in items:
        created |= await _insert_alone(conn, item, store)
    return created


async def _insert_alone(conn: AsyncConnection, item: NewActivity, store: str) -> set[uuid.UUID]:
    """One item in a savepoint: refused for its values, it is not created, nothing else lost."""
    try:
        async with conn.begin_nested():
            return set(await conn.scalar(text(store), _columns([item])))
    except DBAPIError as exc:
        if not _refused_for_its_values(exc):
            raise
        return set()   # refused: the caller answers it REJECTED, not created, not stored


async def record(conn: AsyncConnection, batch: list[NewActivity | JangkauError],
                 ids: list[str]) -> list[Recorded]:
    """Store every valid item of `batch` and say, in order, what became of each."""
    valid = [i for i in batch if isinstance(i, NewActivity)]
    await partitions.ensure_months(conn, {partitions.month_of(i.started_at) for i in valid})
    bad, staged = await _missing_references(conn, valid) if valid else ({}, True)
    first: dict[uuid.UUID, NewActivity] = {}
    for i in valid:
        if i.id not in bad:
            first.setdefault(i.id, i)
    created = await _insert(conn, list(first.values()), STORE if staged else STORE_BEFORE_0020)
    if created:     # flags, never a refusal; then the rollups
        await judge_new(conn, list(created), judged_alone=staged)
    others = [i for i in first if i not in created]
    stored: dict[uuid.UUID, NewActivity] = {}
    if others:
        rows = await conn.execute(text(STORED), {"ids": others})
        found: Sequence[tuple[Any, ...]] = rows.all()
        stored = {r[0]: NewActivity(*r) for r in found}
    await conn.commit()

    return [_answer(raw_id, item, bad, first, created, stored)
            for raw_id, item in zip(ids, batch, strict=True)]


def _answer(raw_id: str, item: NewActivity | JangkauError, bad: dict[uuid.UUID, JangkauError],
            first: dict[uuid.UUID, NewActivity], created: set[uuid.UUID],
            stored: dict[uuid.UUID, NewActivity]) -> Recorded:
    if isinstance(item, JangkauError):
        return Recorded(raw_id, "REJECTED", item)
    if item.id in bad:
        return Recorded(raw_id, "REJECTED", bad[item.id])
    if item.id in created and first[item.id] is item:
        return Recorded(raw_id, "CREATED")
    if item.id in created or item.id in stored:
        # Field by field (the dataclass's ==), no copies.
        kept = first[item.id] if item.id in created else stored[item.id]
        if item == kept:
            return Recorded(raw_id, "DUPLICATE")
        return Recorded(raw_id, "REJECTED", Conflict(
            f"activity {item.id} is already stored with different content; "
            "send a new id for a new activity"))
    return Recorded(raw_id, "REJECTED", BadInput(
        f"activity {item.id} was refused by the database; check its values"))

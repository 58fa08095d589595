"""Plausibility of field presence: flags judged in the database, and a supervisor's review.

A record is never refused for being implausible; it is flagged, and a flagged record counts
in coverage only once a supervisor accepts it (the PDP law gives staff the right to contest an
automated decision: `contest` puts their note in the review history). Each flag comes with its
reason in words and numbers (`flag_notes`), and the record with a confidence that orders the
review queue (migration 0009; bench/README.md measures them). The judging is one SQL function,
`activity_flags_refresh` (migrations 0003, 0009), run in the writer's transaction for the new
rows and the neighbours whose judgement they change (for a day-level flag, their whole WIB day).
Its thresholds are `jangkau.flag_*` settings: `configure_engine` sets them on every connection
of the service from `Settings`; without them the SQL defaults (the same numbers as
`Settings`') apply.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.db import apply_settings
from geo.errors import BadInput, NotFound
from geo.settings import Settings

FLAGS = ("OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT", "LOW_ACCURACY", "MOCK_LOCATION",
         "IMPOSSIBLE_SPEED", "FUTURE_TIME", "DUPLICATE_BURST", "UNREACHABLE", "STATIC_DAY",
         "COPIED_LOCATION", "BACKDATED_BURST", "OFF_HOURS")
DECISIONS = ("ACCEPTED", "REJECTED")
MAX_REASON = 1000


def flag_settings(s: Settings) -> dict[str, str]:
    """The `jangkau.flag_*` settings the SQL reads, from the service's Settings."""
    return {
        "jangkau.flag_max_accuracy_m": str(s.flag_max_accuracy_m),
        "jangkau.flag_max_speed_kmh": str(s.flag_max_speed_kmh),
        "jangkau.flag_future_tolerance_s": str(s.flag_future_tolerance_s),
        "jangkau.flag_burst_count": str(s.flag_burst_count),
        "jangkau.flag_burst_minutes": str(s.flag_burst_minutes),
        "jangkau.flag_burst_radius_m": str(s.flag_burst_radius_m),
        "jangkau.flag_border_m": str(s.flag_border_m),
        "jangkau.flag_reach_kmh": str(s.flag_reach_kmh),
        "jangkau.flag_reach_min_m": str(s.flag_reach_min_m),
        "jangkau.flag_day_start_h": str(s.flag_day_start_h),
        "jangkau.flag_day_end_h": str(s.flag_day_end_h),
        "jangkau.flag_static_count": str(s.flag_static_count),
        "jangkau.flag_static_hours": str(s.flag_static_hours),
        "jangkau.flag_static_radius_m": str(s.flag_static_radius_m),
        "jangkau.flag_backdate_count": str(s.flag_backdate_count),
        "jangkau.flag_backdate_minutes": str(s.flag_backdate_minutes),
        "jangkau.flag_backdate_lag_h": str(s.flag_backdate_lag_h),
        "jangkau.flag_copy_days": str(s.flag_copy_days),
    }


def configure_engine(engine: AsyncEngine, settings: Settings) -> None:
    """Give every connection of `engine` the thresholds of `settings` (every transaction behind
    PgBouncer)."""
    apply_settings(engine, flag_settings(settings), per_transaction=settings.pgbouncer)


async def evaluate(conn: AsyncConnection, ids: Sequence[uuid.UUID] | None) -> int:
    """Judge `ids` and their neighbours (None: every activity) in the current transaction.

    Returns how many activities' flags changed.
    """
    n = await conn.scalar(text("SELECT activity_flags_refresh(CAST(:ids AS uuid[]))"),
                          {"ids": list(ids) if ids is not None else None})
    return int(n or 0)


async def judge_new(conn: AsyncConnection, ids: Sequence[uuid.UUID], judged_alone: bool) -> int:
    """Judge activities this transaction just stored, and their neighbours, as `evaluate` does;
    `judged_alone`: stored by `activities_record` (geo.record), which judged what each says
    about itself, so only what the neighbours add is judged here. When their writer held the
    rollups back (`jangkau.rollups_after_judging`), add them to the rollups afterwards, once,
    flagged or not, rather than count and un-count them.

    Returns how many activities' flags changed.
    """
    judge = ("SELECT activities_judge(CAST(:ids AS uuid[]), true)" if judged_alone
             else "SELECT activities_judge(CAST(:ids AS uuid[]))")
    return int(await conn.scalar(text(judge), {"ids": list(ids)}) or 0)


@dataclass(frozen=True)
class ReviewRow:
    id: int
    activity_id: uuid.UUID
    decision: str
    reason: str
    reviewer: str | None
    at: datetime
    flags_at_review: list[str]


REVIEW_COLUMNS = "id, activity_id, decision, reason, reviewer, at, flags_at_review"


def check_reason(reason: str, name: str = "reason") -> str:
    reason = reason.strip()
    if not reason:
        raise BadInput(f"{name}: say why (it is kept in the activity's review history)")
    if len(reason) > MAX_REASON:
        raise BadInput(f"{name} is {len(reason)} characters; the maximum is {MAX_REASON}",
                       code="LIMIT_EXCEEDED")
    if "\x00" in reason:
        raise BadInput(f"{name} must not contain NUL characters")
    return reason


async def resolve(conn: AsyncConnection, activity_id: uuid.UUID, decision: str, reason: str,
                  reviewer: str | None) -> ReviewRow:
    """Accept or reject an activity's current flags; the decision joins its history. Commits."""
    if decision not in DECISIONS:
        raise BadInput(f"decision must be one of {', '.join(DECISIONS)} (a staff member "
                       "contests through contestFlags)")
    reason = check_reason(reason)
    flags = (await conn.execute(text("SELECT flags FROM activities WHERE id = :id FOR UPDATE"),
                                {"id": activity_id})).scalar_one_or_none()
    if flags is None:
        raise NotFound(f"unknown activity id {activity_id}")
    if not flags:
        raise BadInput(f"activity {activity_id} has no flags: there is nothing to resolve")
    row = (await conn.execute(text(f"""
        WITH decided AS (
            UPDATE activities SET review = :decision WHERE id = :id RETURNING id, flags
        )
        INSERT INTO flag_reviews (activity_id, decision, reason, reviewer, flags_at_review)
        SELECT id, :decision, :reason, :reviewer, flags FROM decided
        RETURNING {REVIEW_COLUMNS}"""),
        {"id": activity_id, "decision": decision, "reason": reason, "reviewer": reviewer})).one()
    await conn.commit()
    return ReviewRow(*row)


async def contest(conn: AsyncConnection, activity_id: uuid.UUID, note: str, flag: str | None,
                  by: str) -> ReviewRow:
    """The record's own staff member disagrees with its flags (or one of them), in words.

    The note joins the review history (CONTESTED) for the supervisor to read; a rejected record
    waits for review again. Commits. Whether `by` owns the record is the caller's check.
    """
    note = check_reason(note, "note")
    flags = (await conn.execute(text("SELECT flags FROM activities WHERE id = :id FOR UPDATE"),
                                {"id": activity_id})).scalar_one_or_none()
    if flags is None:
        raise NotFound(f"unknown activity id {activity_id}")
    if not flags:
        raise BadInput(f"activity {activity_id} has no flags: there is nothing to contest")
    if flag is not None and flag not in flags:
        raise BadInput(f"activity {activity_id} has no flag {flag[:40]!r}; its flags are "
                       f"{', '.join(flags)}")
    row = (await conn.execute(text(f"""
        WITH reopened AS (
            UPDATE activities
            SET review = CASE WHEN review = 'REJECTED' THEN 'PENDING' ELSE review END
            WHERE id = :id RETURNING id
        )
        INSERT INTO flag_reviews (activity_id, decision, reason, reviewer, flags_at_review)
        SELECT id, 'CONTESTED', :note, :by, :flags FROM reopened
        RETURNING {REVIEW_COLUMNS}"""),
        {"id": activity_id, "note": note, "by": by,
         "flags": [flag] if flag is not None else flags})).one()
    await conn.commit()
    return ReviewRow(*row)


async def reviews_for(conn: AsyncConnection,
                      ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ReviewRow]]:
    """Each activity's review history, oldest first."""
    rows = await conn.execute(text(f"""
        SELECT {REVIEW_COLUMNS} FROM flag_reviews WHERE activity_id = ANY(:ids)
        ORDER BY activity_id, at, id"""), {"ids": list(ids)})
    out: dict[uuid.UUID, list[ReviewRow]] = defaultdict(list)
    found: Sequence[tuple[Any, ...]] = rows.all()
    for r in found:
        row = ReviewRow(*r)
        out[row.activity_id].append(row)
    return out

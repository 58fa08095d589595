"""The access log (UU 27/2022, the PDP law): every read of another person's individual location.

A request notes what it reads in a `Ledger` (which activity, whose, through which field); at the
end the ledger becomes one row per subject staff member, written by one INSERT over arrays,
never a statement per activity. A vector tile of points is logged in the database itself, by an
INSERT ... SELECT over the tile's own condition (`write_where`). Reads of one's own activities
are not logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = ("l.id, l.at, l.actor_sub, l.actor_role, l.subject_staff_id, l.what, "
           "l.detail::text AS detail")


@dataclass(frozen=True)
class Reader:
    """Who read: the token's subject and role; `staff_id` is None when `sub` is no staff UUID."""

    sub: str
    role: str
    staff_id: uuid.UUID | None


@dataclass(frozen=True)
class Entry:
    """One subject's row: the fields read through, and the detail stored as jsonb."""

    subject: uuid.UUID
    what: str
    detail: dict[str, Any]


@dataclass
class Ledger:
    """Other people's activities one request has read, by subject and by field."""

    reader: Reader
    _reads: dict[uuid.UUID, dict[str, set[uuid.UUID]]] = field(default_factory=dict)

    def note(self, what: str, rows: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """`rows` are (activity id, its staff id) pairs read through `what`."""
        own, reads = self.reader.staff_id, self._reads    # a page notes 100 rows, twice
        for activity_id, staff_id in rows:
            if staff_id != own:
                by_field = reads.get(staff_id)
                if by_field is None:
                    by_field = reads[staff_id] = {}
                read = by_field.get(what)
                if read is None:
                    read = by_field[what] = set()
                read.add(activity_id)

    def entries(self) -> list[Entry]:
        out = []
        for subject, by_field in sorted(self._reads.items()):
            ids = set().union(*by_field.values())
            out.append(Entry(subject, ", ".join(sorted(by_field)), {
                "activities": len(ids),
                "fields": {w: len(a) for w, a in sorted(by_field.items())}}))
        return out


# One INSERT over arrays, planned once a session with its foreign-key checks (migration 0015).
WRITE = "SELECT access_log_write($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[])"


async def write(conn: AsyncConnection, reader: Reader, entries: list[Entry]) -> int:
    """One INSERT for all the request's subjects; the caller commits."""
    return await write_many(conn, [(reader, entries)])


async def write_many(conn: AsyncConnection, reads: list[tuple[Reader, list[Entry]]]) -> int:
    """One INSERT for the subjects of several readers (live subscribers of one batch)."""
    rows = [(reader, e) for reader, entries in reads for e in entries]
    if not rows:
        return 0
    # The driver's text: every request that reads others' activities ends here.
    await conn.exec_driver_sql(WRITE, (
        [r.sub for r, _ in rows], [r.role for r, _ in rows], [e.subject for _, e in rows],
        [e.what for _, e in rows], [orjson.dumps(e.detail).decode() for _, e in rows]))
    return len(rows)


async def write_where(conn: AsyncConnection, reader: Reader, what: str, where: str,
                      params: Mapping[str, Any], detail: Mapping[str, Any]) -> None:
    """Log the activities `where` (a condition on `activities a`) selects, one row per subject,
    in the database; the caller commits."""
    await conn.execute(text(f"""
        INSERT INTO access_log (actor_sub, actor_role, subject_staff_id, what, detail)
        SELECT :log_sub, :log_role, a.staff_id, :log_what,
               jsonb_build_object('activities', count(*)) || CAST(:log_detail AS jsonb)
        FROM activities a
        WHERE {where} AND a.staff_id IS DISTINCT FROM CAST(:log_staff AS uuid)
        GROUP BY a.staff_id"""), {
        **params, "log_sub": reader.sub, "log_role": reader.role, "log_what": what,
        "log_detail": orjson.dumps(dict(detail)).decode(), "log_staff": reader.staff_id})


@dataclass(frozen=True)
class LogRow:
    id: uuid.UUID
    at: datetime
    actor_sub: str
    actor_role: str
    subject_staff_id: uuid.UUID
    what: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class LogFilter:
    staff_id: uuid.UUID | None = None
    actor_sub: str | None = None
    since: datetime | None = None     # inclusive
    until: datetime | None = None     # exclusive


async def page(conn: AsyncConnection, f: LogFilter, first: int,
               after: tuple[datetime, uuid.UUID] | None) -> list[LogRow]:
    """Up to `first + 1` rows, newest first, after the keyset cursor."""
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS} FROM access_log l
        WHERE (CAST(:staff AS uuid) IS NULL OR l.subject_staff_id = :staff)
          AND (CAST(:actor AS text) IS NULL OR l.actor_sub = :actor)
          AND (CAST(:since AS timestamptz) IS NULL OR l.at >= :since)
          AND (CAST(:until AS timestamptz) IS NULL OR l.at < :until)
          AND (CAST(:after_t AS timestamptz) IS NULL OR (l.at, l.id) < (:after_t, :after_id))
        ORDER BY l.at DESC, l.id DESC LIMIT :lim"""), {
        "staff": f.staff_id, "actor": f.actor_sub, "since": f.since, "until": f.until,
        "after_t": after[0] if after else None, "after_id": after[1] if after else None,
        "lim": first + 1})
    return [LogRow(r.id, r.at, r.actor_sub, r.actor_role, r.subject_staff_id, r.what,
                   orjson.loads(r.detail)) for r in rows.all()]

"""The access log (UU 27/2022, the PDP law): every read of another person's individual location.

A request notes what it reads in a `Ledger` (which activity, whose, through which field); at the
end the ledger becomes one entry per subject staff member, committed before the answer leaves
as one row of `access_log_journal` (`write_many`: the entries as arrays), which `expand` later
writes out as `access_log`'s rows, one per subject (migration 0018: a page's 100 rows cost 2-3
ms before its answer). A vector tile of points is logged in the database itself, by an
INSERT ... SELECT over the tile's own condition (`write_where`). Reads of one's own activities
are not logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.db import Statements, fetch

COLUMNS = ("l.id, l.at, l.actor_sub, l.actor_role, l.subject_staff_id, l.what, "
           "l.detail::text AS detail")


@dataclass(frozen=True)
class Reader:
    """Who read: the token's subject and role; `staff_id` is None when `sub` is no staff UUID."""

    sub: str
    role: str
    staff_id: uuid.UUID | None


class Entry(NamedTuple):
    """One subject's row: the fields read through, and the detail stored as jsonb. A named
    tuple: a page makes one per subject, and a frozen dataclass cost 1 µs each to build."""

    subject: uuid.UUID
    what: str
    detail: dict[str, Any]


@dataclass
class Ledger:
    """Other people's activities one request has read, by field and by subject.

    Kept by field first: a request reads through one or two fields, each noting a page of rows
    at once, so the per-row work is one set insertion and the per-subject work is done once, in
    `entries` (a page of 100 noted twice cost 0.4 ms of Python before, issue 13)."""

    reader: Reader
    _reads: dict[str, dict[uuid.UUID, set[uuid.UUID]]] = field(default_factory=dict)

    def note(self, what: str, rows: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """`rows` are (activity id, its staff id) pairs read through `what`."""
        own = self.reader.staff_id
        by_subject = self._reads.get(what)
        if by_subject is None:
            by_subject = self._reads[what] = {}
        for activity_id, staff_id in rows:
            if staff_id != own:
                read = by_subject.get(staff_id)
                if read is None:
                    by_subject[staff_id] = {activity_id}
                else:
                    read.add(activity_id)

    def entries(self) -> list[Entry]:
        """One entry per subject, in subject order: the fields read through (in name order),
        how many distinct activities in all and through each field."""
        by_subject: dict[uuid.UUID, list[tuple[str, set[uuid.UUID]]]] = {}
        for what in sorted(self._reads):
            for subject, ids in self._reads[what].items():
                read = by_subject.get(subject)
                if read is None:
                    by_subject[subject] = [(what, ids)]
                else:
                    read.append((what, ids))
        out = []
        for subject in sorted(by_subject):
            read = by_subject[subject]
            if len(read) == 1:
                what, ids = read[0]
                out.append(Entry(subject, what, {"activities": len(ids),
                                                 "fields": {what: len(ids)}}))
            else:
                out.append(Entry(subject, ", ".join([w for w, _ in read]), {
                    "activities": len(read[0][1].union(*[a for _, a in read[1:]])),
                    "fields": {w: len(a) for w, a in read}}))
        return out


# One journal row of arrays, planned once a session (migrations 0015, 0018).
WRITE = "SELECT access_log_write($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[])"
EXPAND = "SELECT access_log_expand($1)"
EXPAND_ROWS = 1_000     # journal rows a transaction of `expand` moves


async def write(conn: AsyncConnection, reader: Reader, entries: list[Entry]) -> int:
    """One journal row for all the request's subjects; the caller commits."""
    return await write_many(conn, [(reader, entries)])


async def write_many(conn: AsyncConnection | Statements,
                     reads: list[tuple[Reader, list[Entry]]], *, commit: bool = False) -> int:
    """One journal row for the subjects of several readers (requests committed together, or
    live subscribers of one batch); the caller commits, unless `commit` (then this does,
    see geo.db.fetch)."""
    subs: list[str] = []
    roles: list[str] = []
    for reader, entries in reads:
        subs += [reader.sub] * len(entries)
        roles += [reader.role] * len(entries)
    if not subs:
        return 0
    entries = [e for _, es in reads for e in es]
    # Straight to the driver in autocommit (geo.db.fetch): every request that reads others'
    # activities ends here.
    await fetch(conn, WRITE, subs, roles, [e.subject for e in entries],
                [e.what for e in entries], [orjson.dumps(e.detail).decode() for e in entries],
                commit=commit)
    return len(subs)


async def expand(conn: AsyncConnection | Statements) -> None:
    """Write out every journal row committed before this call as `access_log` rows, a
    committed transaction per EXPAND_ROWS. Rows another expander holds are waited for, so the
    log is complete up to now when this returns."""
    while True:
        ((taken,),) = await fetch(conn, EXPAND, EXPAND_ROWS, commit=True)
        if taken == 0:
            return


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

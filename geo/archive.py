"""Archive old months of `activities` to a file and restore them exactly (issue 14).

`archive` detaches the partitions of the WIB months before a given one and writes their rows,
with the rows that belong to them elsewhere (`DEPENDENTS`: flag reviews), to one file: a gzip'd
tar of a manifest and one COPY text stream per table, each with its row count and SHA-256. The
file is complete and flushed before the transaction that removes the rows commits, so a failure
at any point leaves either the rows in the database or nothing changed. The partition is locked
against writes (SHARE) while it is dumped; other months go on being written.

The rollups keep an archived month's figures (0013: `activity_archives`) until `forget_figures`
removes them; `restore` re-creates the partition from the file verbatim (no trigger re-judges
or re-assigns a restored row), attaches it with its original bounds, brings its dependents
back and recomputes the month's rollups, which equal the kept figures or bring forgotten ones
back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.db import raw_connection
from geo.errors import BadInput, Conflict, NotFound
from geo.periods import WIB

FORMAT = "jangkau-activities-archive"
VERSION = 1
MANIFEST = "manifest.json"
PARTITION = re.compile(r"^activities_p(\d{4})_(\d{2})$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Tables whose rows refer to activities and travel with them: (table, column naming the row).
DEPENDENTS = (("flag_reviews", "activity_id"),)

PARTITIONS = """
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'activities'::regclass
    ORDER BY c.relname"""
REFRESH = "SELECT rollups_refresh(CAST(CAST(:span AS text) AS datemultirange))"
# Columns COPY can write (generated ones are computed again), in table order.
COLUMNS = """
    SELECT attname FROM pg_attribute
    WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped
      AND attgenerated = ''
    ORDER BY attnum"""


@dataclass(frozen=True)
class Archived:
    month: date
    rows: int
    archived_at: datetime
    file: str
    figures_forgotten_at: datetime | None


@dataclass(frozen=True)
class Moved:
    """What one archive or restore moved: the months, activities and dependent rows."""

    months: tuple[date, ...]
    activities: int
    dependents: dict[str, int]
    file: Path


def parse_month(value: str, where: str = "month") -> date:
    """`YYYY-MM` as the month's first day."""
    m = MONTH.match(value.strip())
    if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 2000:
        raise BadInput(f"{where} must be a month like 2026-09, got {value!r:.30}")
    return date(int(m[1]), int(m[2]), 1)


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def _partition_month(name: str) -> date | None:
    m = PARTITION.match(name)
    return date(int(m[1]), int(m[2]), 1) if m else None


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _span(months: list[date]) -> str:
    """The months' WIB days as a datemultirange literal."""
    return "{" + ",".join(f"[{m},{_next_month(m)})" for m in months) + "}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _columns(conn: AsyncConnection, table: str) -> list[str]:
    return list((await conn.execute(text(COLUMNS), {"table": table})).scalars())


async def archives(conn: AsyncConnection) -> list[Archived]:
    rows = await conn.execute(text(
        "SELECT month, rows, archived_at, file, figures_forgotten_at FROM activity_archives "
        "ORDER BY month"))
    return [Archived(r.month, r.rows, r.archived_at, r.file, r.figures_forgotten_at)
            for r in rows]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


async def _dump(conn: AsyncConnection, query: str, columns: list[str], member: str,
                work: Path, table: str, extra: dict[str, Any]) -> dict[str, Any]:
    """COPY `query`'s rows into work/member; their description for the manifest."""
    raw = await raw_connection(conn)
    path = work / member
    status = await raw.copy_from_query(query, output=str(path))
    rows = int(status.split()[-1])
    return {"member": member, "table": table, "columns": columns, "rows": rows,
            "sha256": _sha256(path), **extra}


def _write_tar(target: Path, work: Path, manifest: dict[str, Any]) -> None:
    """The manifest first, then the streams; flushed to disk before it is renamed in place."""
    body = json.dumps(manifest, indent=2).encode()
    with target.open("wb") as out:
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            for entry in manifest["tables"]:
                tar.add(work / entry["member"], arcname=entry["member"])
        out.flush()
        os.fsync(out.fileno())


async def archive(conn: AsyncConnection, before: date, to: Path, *,
                  today: date | None = None) -> Moved:
    """Detach and dump every month's partition before `before`, in one transaction."""
    today = today or datetime.now(WIB).date()
    if before > today.replace(day=1):
        raise BadInput(f"--before {month_text(before)} would archive the current month or "
                       f"later: only months before {month_text(today)} can be archived")
    if to.exists():
        raise Conflict(f"{to} exists already: an archive never overwrites a file")
    if not to.parent.is_dir():
        raise BadInput(f"{to.parent} is not a directory")
    parts = [(r.name, r.bound, m) for r in (await conn.execute(text(PARTITIONS)))
             if (m := _partition_month(r.name)) is not None and m < before]
    if not parts:
        raise NotFound(f"no month of activities before {month_text(before)} is left to archive")
    columns = await _columns(conn, "activities")
    revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    tmp = to.with_name(f".{to.name}.partial")
    try:
        tables = await _dump_all(conn, parts, columns, revision, tmp)
        for name, _, month in parts:
            for table, column in DEPENDENTS:
                await conn.execute(text(
                    f"DELETE FROM {_quoted(table)} d USING {_quoted(name)} a "
                    f"WHERE a.id = d.{_quoted(column)}"))
            await conn.execute(text(f"ALTER TABLE activities DETACH PARTITION {_quoted(name)}"))
            await conn.execute(text(f"DROP TABLE {_quoted(name)}"))
            await conn.execute(text(
                "INSERT INTO activity_archives (month, rows, file) VALUES (:m, :n, :f)"),
                {"m": month, "n": tables[name]["rows"], "f": to.name})
        tmp.rename(to)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        tmp.unlink(missing_ok=True)
        to.unlink(missing_ok=True)
        raise
    dependents: dict[str, int] = {}
    for entry in tables.values():
        if entry["table"] != "activities":
            dependents[entry["table"]] = dependents.get(entry["table"], 0) + entry["rows"]
    return Moved(tuple(m for _, _, m in parts), sum(tables[n]["rows"] for n, _, _ in parts),
                 dependents, to)


async def _dump_all(conn: AsyncConnection, parts: list[tuple[str, str, date]],
                    columns: list[str], revision: str, target: Path) -> dict[str, Any]:
    """Lock each partition against writes, dump it and its dependents, write the file; the
    manifest's entries by partition name (and `table.partition` for dependents)."""
    tables: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jangkau-archive-", dir=target.parent) as scratch:
        work = Path(scratch)
        for name, bound, month in parts:
            await conn.execute(text(f"LOCK TABLE {_quoted(name)} IN SHARE MODE"))
            cols = ", ".join(map(_quoted, columns))
            tables[name] = await _dump(
                conn, f"SELECT {cols} FROM {_quoted(name)}", columns, f"{name}.copy", work,
                "activities", {"partition": name, "bound": bound, "month": month_text(month)})
            for table, column in DEPENDENTS:
                dep_cols = await _columns(conn, table)
                query = (f"SELECT {', '.join(f'd.{_quoted(c)}' for c in dep_cols)} "
                         f"FROM {_quoted(table)} d JOIN {_quoted(name)} a "
                         f"ON a.id = d.{_quoted(column)}")
                tables[f"{table}.{name}"] = await _dump(
                    conn, query, dep_cols, f"{table}.{name}.copy", work, table,
                    {"partition": name})
        manifest = {"format": FORMAT, "version": VERSION, "revision": revision,
                    "created_at": datetime.now(WIB).isoformat(),
                    "months": [month_text(m) for _, _, m in parts],
                    "tables": list(tables.values())}
        _write_tar(target, work, manifest)
    return tables


async def forget_figures(conn: AsyncConnection, before: date) -> list[date]:
    """Remove the archived months before `before` from the rollups (their figures go)."""
    months: list[date] = list((await conn.execute(text(
        "UPDATE activity_archives SET figures_forgotten_at = now() "
        "WHERE month < :before AND figures_forgotten_at IS NULL RETURNING month"),
        {"before": before})).scalars())
    if not months:
        raise NotFound(f"no archived month before {month_text(before)} still has its figures "
                       "in the rollups")
    await conn.execute(text(REFRESH), {"span": _span(sorted(months))})
    await conn.commit()
    return sorted(months)


async def rollups_drift(conn: AsyncConnection) -> int:
    """Rollup rows that differ from the base table, outside the archived months whose figures
    are kept: 0 when the rollups are exact."""
    return int(await conn.scalar(text("SELECT rollups_drift()")) or 0)


def _manifest(tar: tarfile.TarFile, source: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
        manifest: dict[str, Any] = json.loads(member.read()) if member else {}
    except (KeyError, ValueError):
        manifest = {}
    if manifest.get("format") != FORMAT:
        raise BadInput(f"{source} is not a Jangkau activities archive (no manifest)")
    if manifest.get("version") != VERSION:
        raise BadInput(f"{source} is an archive of format version {manifest.get('version')}; "
                       f"this Jangkau reads version {VERSION}")
    return manifest


def _open(source: Path) -> tarfile.TarFile:
    if not source.is_file():
        raise NotFound(f"no archive file {source}")
    try:
        return tarfile.open(source, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError):
        raise BadInput(f"{source} is not a Jangkau activities archive "
                       "(not a gzip'd tar)") from None


def _verify(tar: tarfile.TarFile, entry: dict[str, Any], source: Path) -> None:
    """A stream is there whole and matches its checksum (read once, in chunks)."""
    h = hashlib.sha256()
    try:
        f = tar.extractfile(entry["member"])
        if f is None:
            raise KeyError(entry["member"])
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    except (KeyError, tarfile.TarError, OSError, EOFError, ValueError):
        raise BadInput(f"{source} is damaged: {entry['member']} is missing or cut "
                       "short") from None
    if h.hexdigest() != entry["sha256"]:
        raise BadInput(f"{source} is damaged: {entry['member']} does not match its checksum")


def _stream(tar: tarfile.TarFile, entry: dict[str, Any]) -> IO[bytes]:
    f = tar.extractfile(entry["member"])
    if f is None:
        raise BadInput(f"{entry['member']} is not a file")
    return f


async def _take_from_default(conn: AsyncConnection, table: str, month: date) -> None:
    """Rows of the month written while it was archived sit in the default partition (they are in
    the rollups already): they join the restored ones, or the attach would fail."""
    default = await conn.scalar(text(
        "SELECT nullif(partdefid, 0)::regclass::text FROM pg_partitioned_table "
        "WHERE partrelid = 'activities'::regclass"))
    if default is None:
        return
    await conn.execute(text(
        f"WITH moved AS (DELETE FROM {default} WHERE started_at >= :lo AND started_at < :hi "
        f"RETURNING *) INSERT INTO {_quoted(table)} SELECT * FROM moved"),
        {"lo": datetime.combine(month, datetime.min.time(), WIB),
         "hi": datetime.combine(_next_month(month), datetime.min.time(), WIB)})


async def restore(conn: AsyncConnection, source: Path) -> Moved:
    """Re-attach every month in `source` exactly as it was archived, in one transaction."""
    with _open(source) as tar:
        manifest = _manifest(tar, source)
        parts = [t for t in manifest["tables"] if t["table"] == "activities"]
        months = [parse_month(t["month"], "the archive's month") for t in parts]
        archived = {a.month for a in await archives(conn)}
        for part, month in zip(parts, months, strict=True):
            if month not in archived:
                raise Conflict(f"{part['month']} is not archived in this database (restored "
                               "already, or archived from another one)")
            if await conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"),
                                 {"n": part["partition"]}):
                raise Conflict(f"a table {part['partition']} exists already")
        for entry in manifest["tables"]:
            if entry["columns"] != await _columns(conn, entry["table"]):
                raise BadInput(f"{source}: the columns of {entry['table']} differ from this "
                               f"database's (archived at revision {manifest['revision']}); "
                               "restore it with a matching version")
        for entry in manifest["tables"]:
            _verify(tar, entry, source)
        raw = await raw_connection(conn)
        dependents: dict[str, int] = {}
        try:
            for part in parts:
                name = _quoted(part["partition"])
                await conn.execute(text(
                    f"CREATE TABLE {name} (LIKE activities INCLUDING DEFAULTS "
                    "INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE)"))
                await raw.copy_to_table(part["partition"], columns=part["columns"],
                                        source=_stream(tar, part))
                await _take_from_default(conn, part["partition"],
                                         parse_month(part["month"], "the archive's month"))
                await conn.execute(text(
                    f"ALTER TABLE activities ATTACH PARTITION {name} {part['bound']}"))
            for entry in manifest["tables"]:
                if entry["table"] == "activities":
                    continue
                await raw.copy_to_table(entry["table"], columns=entry["columns"],
                                        source=_stream(tar, entry))
                dependents[entry["table"]] = dependents.get(entry["table"], 0) + entry["rows"]
            await conn.execute(text("DELETE FROM activity_archives WHERE month = ANY(:m)"),
                               {"m": months})
            await conn.execute(text(REFRESH), {"span": _span(sorted(months))})
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
    return Moved(tuple(months), sum(p["rows"] for p in parts), dependents, source)

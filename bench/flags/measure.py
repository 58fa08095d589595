"""Load the evaluation set the way the demo bulk-loads (then every record judged in one pass),
read back the flags, and score them: recall per pattern, false flags on honest records, review
load at the demo's staffing."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.flags.generate import HONEST, PATTERNS, UNDETECTABLE, Record, generate
from bench.flags.world import build
from geo.catalog import OPDS
from geo.db import raw_connection
from geo.demo import DAYS, STAGING, STAGING_COLUMNS, bulk_insert_staged

# `jangkau up`'s demo: 100,000 activities over DAYS days by max(40, 100,000 / 250) = 400 staff
# in the 6 OPDs and 31 kecamatan offices, one supervisor each.
DEMO_ACTIVITIES = 100_000
SUPERVISORS = len(OPDS) + 31
RECORDS_PER_SUPERVISOR_WEEK = DEMO_ACTIVITIES / (DAYS / 7) / SUPERVISORS
GOAL_FALSE = 0.02
GOAL_RECALL = 0.90
GOAL_LOAD = 20.0


@dataclass(frozen=True)
class Judged:
    record: Record
    flags: tuple[str, ...]


async def load(conn: AsyncConnection, records: list[Record]) -> dict[uuid.UUID, list[str]]:
    """Store `records` through the demo's bulk path (flags judged there); their flags by id."""
    raw = await raw_connection(conn)
    await conn.execute(text(STAGING))
    await raw.copy_records_to_table("demo_staging", records=[r.staging() for r in records],
                                    columns=STAGING_COLUMNS)
    await bulk_insert_staged(conn)
    await conn.commit()
    rows = await conn.execute(text("SELECT id, flags FROM activities WHERE id = ANY(:ids)"),
                              {"ids": [r.id for r in records]})
    found: Sequence[tuple[uuid.UUID, list[str]]] = rows.all()
    return dict(found)


async def evaluate_set(conn: AsyncConnection, seed: int, staff: int, until: date, days: int,
                       fraud_days: int) -> list[Judged]:
    world = await build(conn, seed, staff, until)
    records = generate(world, seed, until, days, fraud_days)
    flags = await load(conn, records)
    return [Judged(r, tuple(flags[r.id])) for r in records]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(judged: list[Judged]) -> str:
    """The markdown tables of bench/README.md, with each goal's verdict."""
    honest = [j for j in judged if j.record.label == HONEST]
    lines = [f"{len(judged):,} records: {len(honest):,} honest, "
             f"{len(judged) - len(honest):,} faked.", "",
             "| pattern | records | recall | flags that caught it | goal >= 90 % |",
             "|---|---:|---:|---|---|"]
    for p in PATTERNS:
        rows = [j for j in judged if j.record.label == p]
        caught = sum(bool(j.flags) for j in rows)
        recall = caught / len(rows) if rows else 0.0
        by = Counter(f for j in rows for f in j.flags).most_common(3)
        verdict = ("met" if recall >= GOAL_RECALL else
                   "undetectable (see below)" if p in UNDETECTABLE else "**missed**")
        lines.append(f"| {p} | {len(rows)} | {_pct(recall)} | "
                     f"{', '.join(f'{f} {n}' for f, n in by) or '-'} | {verdict} |")
    lines += ["", "| on honest records | flagged | share |", "|---|---:|---:|"]
    per_flag = Counter(f for j in honest for f in j.flags)
    for f, n in sorted(per_flag.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {f} | {n} | {_pct(n / len(honest))} |")
    false = sum(bool(j.flags) for j in honest) / len(honest)
    lines.append(f"| **any flag** (goal <= 2 %: {'met' if false <= GOAL_FALSE else '**missed**'})"
                 f" | {sum(bool(j.flags) for j in honest)} | {_pct(false)} |")
    kinds = Counter(k for j in honest for k in j.record.kind.split("/"))
    flagged_kinds = Counter(k for j in honest if j.flags for k in j.record.kind.split("/"))
    lines += ["", "| honest records that are | records | falsely flagged |", "|---|---:|---:|"]
    for k, n in sorted(kinds.items()):
        lines.append(f"| {k} | {n} | {_pct(flagged_kinds[k] / n)} |")
    share = sum(bool(j.flags) for j in judged) / len(judged)
    load_all = share * RECORDS_PER_SUPERVISOR_WEEK
    load_honest = false * RECORDS_PER_SUPERVISOR_WEEK
    lines += ["", f"Review load at the demo's staffing ({RECORDS_PER_SUPERVISOR_WEEK:.0f} records "
              f"per supervisor per week): {load_honest:.1f} flagged a week from honest work "
              f"alone, {load_all:.1f} at this set's share of fakes "
              f"({_pct(1 - len(honest) / len(judged))}); goal <= 20: "
              f"{'met' if load_all <= GOAL_LOAD else '**missed**'}."]
    return "\n".join(lines)

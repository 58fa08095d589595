"""The flags' evaluation set (bench.flags) on a tiny seed: it generates every pattern, the same
rows from the same seed, loads through the demo's bulk path and scores."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from bench.flags.generate import HONEST, PATTERNS, generate
from bench.flags.measure import Judged, load, report
from bench.flags.world import build

UNTIL = date(2026, 11, 27)


async def test_the_evaluation_set_is_labelled_reproducible_and_scored(
        conn: AsyncConnection) -> None:
    world = await build(conn, seed=3, n_staff=8, until=UNTIL)
    records = generate(world, seed=3, until=UNTIL, days=7, fraud_days=1)
    assert records == generate(world, seed=3, until=UNTIL, days=7, fraud_days=1)
    assert {r.label for r in records} == {HONEST, *PATTERNS}
    flags = await load(conn, records)
    judged = [Judged(r, tuple(flags[r.id])) for r in records]
    # The OS mock flag is always caught; most honest records pass.
    assert all("MOCK_LOCATION" in j.flags for j in judged if j.record.label == "MOCK_FLAGGED")
    honest = [j for j in judged if j.record.label == HONEST]
    assert sum(not j.flags for j in honest) > 0.8 * len(honest)
    table = report(judged)
    assert all(f"| {p} |" in table for p in PATTERNS)
    assert "any flag" in table and "Review load" in table

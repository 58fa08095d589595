"""A supervisor's review through HTTP: flaggedActivities, resolveFlags with its history, the
review state across re-judging, and coverage counting flagged activities only when accepted or
asked to."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.plausibility import evaluate
from tests.conftest import Api
from tests.seed import K1, OCTOBER
from tests.tokens import ADMIN_SUB
from tests.tracks import KF, T1, act, add_staff, judged, tid
from tests.tracks import record as send

RESOLVE = """mutation($id: ID!, $d: ReviewDecision!, $r: String!) {
    resolveFlags(activityId: $id, decision: $d, reason: $r) {
        id flags review reviews { decision reason reviewer flagsAtReview at } } }"""
FLAGGED = """query($f: ActivityFilter, $first: Int, $after: String, $review: [ReviewState!]) {
    flaggedActivities(filter: $f, first: $first, after: $after, review: $review) {
        totalCount edges { node { id flags review } } pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture
async def staffed(conn: AsyncConnection) -> AsyncConnection:
    """T1, assigned to K1 and KF since October (the seed's month, for coverage)."""
    await add_staff(conn, T1, [K1, KF], since=date(2026, 10, 1))
    return conn


async def _resolve(api: Api, n: int, decision: str, reason: str) -> dict[str, Any]:
    data = await api.data(RESOLVE, {"id": tid(n), "d": decision, "r": reason})
    result: dict[str, Any] = data["resolveFlags"]
    return result


async def test_flagged_activities_are_pending_ones_newest_first_in_pages(
        api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "08:00", K1), act(2, "09:00", K1, accuracyMeters=500.0),
               act(3, "10:00", K1, mockLocation=True), act(4, "11:00", K1, accuracyMeters=900.0))
    first = (await api.data(FLAGGED, {"first": 2}))["flaggedActivities"]
    assert first["totalCount"] == 3
    assert [e["node"]["id"] for e in first["edges"]] == [tid(4), tid(3)]
    assert first["pageInfo"]["hasNextPage"]
    rest = (await api.data(FLAGGED, {"first": 2, "after": first["pageInfo"]["endCursor"]}))
    assert [e["node"] for e in rest["flaggedActivities"]["edges"]] == [
        {"id": tid(2), "flags": ["LOW_ACCURACY"], "review": "PENDING"}]
    assert not rest["flaggedActivities"]["pageInfo"]["hasNextPage"]

    await _resolve(api, 3, "ACCEPTED", "Posyandu di balai RW, GPS HP bermasalah")
    pending = (await api.data(FLAGGED, {"f": {"staffId": str(T1)}}))["flaggedActivities"]
    assert [e["node"]["id"] for e in pending["edges"]] == [tid(4), tid(2)]
    accepted = (await api.data(FLAGGED, {"review": ["ACCEPTED"]}))["flaggedActivities"]
    assert [e["node"] for e in accepted["edges"]] == [
        {"id": tid(3), "flags": ["MOCK_LOCATION"], "review": "ACCEPTED"}]
    none = (await api.data(FLAGGED, {"f": {"category": "LAYANAN"}}))["flaggedActivities"]
    assert none["totalCount"] == 0


async def test_resolving_keeps_every_decision(api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "09:00", K1, accuracyMeters=500.0))
    accepted = await _resolve(api, 1, "ACCEPTED", "  Di dalam gedung, sinyal lemah  ")
    assert (accepted["flags"], accepted["review"]) == (["LOW_ACCURACY"], "ACCEPTED")
    assert [(r["decision"], r["reason"], r["reviewer"], r["flagsAtReview"])
            for r in accepted["reviews"]] == [
        ("ACCEPTED", "Di dalam gedung, sinyal lemah", ADMIN_SUB, ["LOW_ACCURACY"])]
    assert accepted["reviews"][0]["at"].endswith("+07:00")

    rejected = await _resolve(api, 1, "REJECTED", "Foto kegiatan tidak sesuai lokasi")
    assert rejected["review"] == "REJECTED"
    assert [r["decision"] for r in rejected["reviews"]] == ["ACCEPTED", "REJECTED"]


async def test_reviews_of_a_page_are_read_in_one_query(api: Api, staffed: AsyncConnection) -> None:
    await send(api, *(act(n, f"{8 + n:02d}:00", K1, accuracyMeters=500.0) for n in range(1, 5)))
    for n in (1, 2, 3):
        await _resolve(api, n, "ACCEPTED", f"alasan {n}")
    await _resolve(api, 1, "REJECTED", "alasan lagi")
    statements: list[str] = []
    engine = api.http.app.state.engine  # type: ignore[attr-defined]
    listen = (engine.sync_engine, "before_cursor_execute")

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(*listen, seen)
    try:
        data = await api.data("""{ flaggedActivities(review: [ACCEPTED, REJECTED, PENDING]) {
            edges { node { id reviews { decision reason } } } } }""")
    finally:
        event.remove(*listen, seen)
    got = {e["node"]["id"]: [(r["decision"], r["reason"]) for r in e["node"]["reviews"]]
           for e in data["flaggedActivities"]["edges"]}
    assert got == {tid(1): [("ACCEPTED", "alasan 1"), ("REJECTED", "alasan lagi")],
                   tid(2): [("ACCEPTED", "alasan 2")], tid(3): [("ACCEPTED", "alasan 3")],
                   tid(4): []}
    assert sum("FROM flag_reviews" in s for s in statements) == 1


@pytest.mark.parametrize(("case", "n", "reason", "code"), [
    ("unknown activity", 99, "alasan", "NOT_FOUND"),
    ("no flags", 1, "alasan", "BAD_USER_INPUT"),
    ("blank reason", 2, " \t ", "BAD_USER_INPUT"),
    ("reason too long", 2, "x" * 1001, "LIMIT_EXCEEDED"),
    ("NUL in reason", 2, "a\x00b", "BAD_USER_INPUT"),
])
async def test_resolving_refuses_and_changes_nothing(
        api: Api, staffed: AsyncConnection, case: str, n: int, reason: str, code: str) -> None:
    await send(api, act(1, "09:00", K1), act(2, "10:00", K1, accuracyMeters=500.0))
    err = await api.error(RESOLVE, {"id": tid(n), "d": "ACCEPTED", "r": reason})
    assert err["extensions"]["code"] == code, case
    assert await judged(api, 1, 2) == {1: ([], "NONE"), 2: (["LOW_ACCURACY"], "PENDING")}
    assert await staffed.scalar(text("SELECT count(*) FROM flag_reviews")) == 0


async def test_resolving_a_malformed_id_or_decision_is_refused(api: Api) -> None:
    err = await api.error(RESOLVE, {"id": "not-a-uuid", "d": "ACCEPTED", "r": "alasan"})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    err = await api.error(RESOLVE, {"id": tid(1), "d": "MAYBE", "r": "alasan"})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_review_follows_the_flags(api: Api, staffed: AsyncConnection) -> None:
    """An acceptance stands while no new flag appears; a rejection stands while any flag does;
    without flags there is nothing to review."""
    a, c = uuid.UUID(tid(1)), uuid.UUID(tid(3))
    await send(api, act(1, "09:00", K1), act(3, "11:00", K1), act(2, "09:05", KF))
    assert (await judged(api, 1))[1] == (["IMPOSSIBLE_SPEED"], "PENDING")
    await _resolve(api, 1, "ACCEPTED", "Dijemput mobil dinas")

    await evaluate(staffed, [a])                              # the same flags: still accepted
    await staffed.commit()
    assert (await judged(api, 1))[1] == (["IMPOSSIBLE_SPEED"], "ACCEPTED")

    await staffed.execute(text("""
        UPDATE staff_assignments SET during = daterange(lower(during), '2026-11-02')
        WHERE staff_id = :s AND area_id = (SELECT id FROM areas WHERE code = :k)"""),
        {"s": T1, "k": K1})
    await evaluate(staffed, [a])                              # a new flag: back to pending
    await staffed.commit()
    assert (await judged(api, 1))[1] == (["OUTSIDE_ASSIGNMENT", "IMPOSSIBLE_SPEED"], "PENDING")

    await _resolve(api, 1, "REJECTED", "Tidak ditugaskan di sana")
    await staffed.execute(text("""
        UPDATE staff_assignments SET during = daterange(lower(during), NULL)
        WHERE staff_id = :s"""),
        {"s": T1})
    await evaluate(staffed, [a])                              # fewer flags: still rejected
    await staffed.commit()
    assert (await judged(api, 1))[1] == (["IMPOSSIBLE_SPEED"], "REJECTED")

    await staffed.execute(text("DELETE FROM activities WHERE id = :id"), {"id": tid(2)})
    await evaluate(staffed, [a, c])                           # no flags: nothing to review
    await staffed.commit()
    assert (await judged(api, 1))[1] == ([], "NONE")
    history = (await api.data(f'{{ activity(id: "{a}") {{ reviews {{ decision }} }} }}'))
    assert [r["decision"] for r in history["activity"]["reviews"]] == ["ACCEPTED", "REJECTED"]


COVERAGE = """query($f: ActivityFilter) {
    coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"}, filter: $f) {
        area { code } activities citizensServed }
    activities(filter: $f) { totalCount } }"""


async def _k1(api: Api, include_flagged: bool | None = None) -> tuple[tuple[int, int], int]:
    """K1's October coverage (activities, citizens) and how many activities its list holds."""
    f: dict[str, Any] = {"areaCode": K1, "period": {"from": "2026-10-01", "to": "2026-10-31"}}
    if include_flagged is not None:
        f["includeFlagged"] = include_flagged
    data = await api.data(COVERAGE, {"f": f})
    row = next(r for r in data["coverage"] if r["area"]["code"] == K1)
    return (row["activities"], row["citizensServed"]), data["activities"]["totalCount"]


async def test_coverage_counts_flagged_activities_only_when_accepted_or_asked(
        api: Api, staffed: AsyncConnection) -> None:
    """Aggregates leave pending and rejected activities out unless asked; lists show them
    (a flag is shown, not hidden) unless asked not to."""
    seed_n, _, seed_citizens, _ = OCTOBER[K1]
    await send(api, act(1, "2026-10-20T09:00:00+07:00", K1, citizensServed=5),
               act(2, "2026-10-21T09:00:00+07:00", K1, citizensServed=7, mockLocation=True))
    clean, flagged = (seed_n + 1, seed_citizens + 5), (seed_n + 2, seed_citizens + 12)
    assert await _k1(api) == (clean, flagged[0])
    assert await _k1(api, include_flagged=False) == (clean, clean[0])
    assert await _k1(api, include_flagged=True) == (flagged, flagged[0])

    await _resolve(api, 2, "ACCEPTED", "Dicek ulang di lapangan")
    assert await _k1(api) == (flagged, flagged[0])
    assert await _k1(api, include_flagged=False) == (flagged, flagged[0])
    await _resolve(api, 2, "REJECTED", "Lokasi palsu")
    assert await _k1(api) == (clean, flagged[0])
    assert await _k1(api, include_flagged=True) == (flagged, flagged[0])

"""The access log (UU 27/2022): every read of another person's individual location is on record,
one row per request and person, written by one statement; admins query it; nothing is changed
once written, and nothing leaves when it cannot be written."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.access_log import Entry, Ledger, Reader, expand, write
from geo.periods import WIB
from tests.conftest import Api, ApiAs
from tests.payloads import RECORD_MANY, activity
from tests.seed import K1, S1, S2, S3, aid
from tests.sql_log import statements
from tests.test_tiles import OCT, tile_of, url

SUP = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
LOCATIONS = "{ activities(first: 50) { edges { node { id location } } } }"
LOG = """query($f: AccessLogFilter, $first: Int, $after: String) {
    accessLog(filter: $f, first: $first, after: $after) {
        edges { cursor node { actorSub actorRole subject { id name } what detail } }
        pageInfo { hasNextPage endCursor } } }"""


async def rows(conn: AsyncConnection) -> dict[str, tuple[str, str, str, dict[str, Any]]]:
    """subject -> (actor_sub, actor_role, what, detail), of the rows written so far."""
    await expand(conn)
    result = await conn.execute(text(
        "SELECT subject_staff_id, actor_sub, actor_role, what, detail FROM access_log"))
    await conn.rollback()
    found = result.all()
    by_subject = {str(r[0]): (r[1], r[2], r[3], r[4]) for r in found}
    assert len(by_subject) == len(found), "more than one row for a subject"
    return by_subject


async def test_a_supervisor_reading_locations_is_logged_per_person(
        api_as: ApiAs, conn: AsyncConnection) -> None:
    sup = api_as("supervisor", SUP, "DINKES")
    with statements(sup, "access_log") as seen:
        await sup.data(LOCATIONS)
    assert len(seen) == 1
    assert await rows(conn) == {
        str(S1): (str(SUP), "supervisor", "Activity.location, activities",
                  {"activities": 3, "fields": {"Activity.location": 3, "activities": 3}}),
        str(S2): (str(SUP), "supervisor", "Activity.location, activities",
                  {"activities": 3, "fields": {"Activity.location": 3, "activities": 3}}),
    }


async def test_a_read_locks_no_one_it_reads(api_as: ApiAs, engine: AsyncEngine,
                                           conn: AsyncConnection) -> None:
    """The log's rows take no lock on the people they name (migration 0017): a read is answered
    while another transaction holds their staff rows FOR UPDATE, as a DELETE would."""
    async with engine.connect() as other:
        await other.execute(text("SELECT 1 FROM staff WHERE id IN (:a, :b) FOR UPDATE"),
                            {"a": S1, "b": S2})
        async with asyncio.timeout(10):
            data = await api_as("supervisor", SUP, "DINKES").data(LOCATIONS)
        await other.rollback()
    assert len(data["activities"]["edges"]) == 6
    assert set(await rows(conn)) == {str(S1), str(S2)}


async def test_reading_ones_own_or_only_counting_is_not_logged(
        api_as: ApiAs, conn: AsyncConnection) -> None:
    await api_as("staff", S1, "DINKES").data(LOCATIONS)
    await api_as("supervisor", SUP, "DINKES").data("{ activities { totalCount } }")
    assert await rows(conn) == {}


async def test_one_request_many_fields_is_one_row_a_person_in_one_statement(
        api: Api, conn: AsyncConnection) -> None:
    query = f"""{{
        all: activities(first: 50) {{ edges {{ node {{ id }} }} }}
        one: activity(id: "{aid(5)}") {{ id location }}
        near: nearestActivities(lon: 112.7, lat: -7.3, limit: 2) {{ distanceMeters }} }}"""
    with statements(api, "access_log_write(") as seen:
        await api.data(query)
    assert len(seen) == 1
    logged = await rows(conn)
    assert set(logged) == {str(S1), str(S2), str(S3)}
    actor, role, what, detail = logged[str(S3)]
    assert (actor, role) == ("test-admin", "admin")
    assert what.startswith("Activity.location, activities, activity")
    assert detail["activities"] == 2
    assert detail["fields"]["activities"] == 2 and detail["fields"]["activity"] == 1


async def test_flagged_activities_and_reviews_are_logged(api: Api, api_as: ApiAs,
                                                         conn: AsyncConnection) -> None:
    mocked = activity(9, mockLocation=True, staffId=str(S2))
    await api.data(RECORD_MANY, {"i": [mocked]})
    await expand(conn)
    await conn.execute(text("DELETE FROM access_log"))      # the admin's own read-back
    await conn.commit()
    sup = api_as("supervisor", SUP, "DINKES")
    await sup.data("{ flaggedActivities { edges { node { id } } } }")
    assert await rows(conn) == {str(S2): (str(SUP), "supervisor", "flaggedActivities",
                                          {"activities": 1, "fields": {"flaggedActivities": 1}})}
    await expand(conn)
    await conn.execute(text("DELETE FROM access_log"))
    await conn.commit()
    await sup.data(f"""mutation {{ resolveFlags(activityId: "{mocked['id']}",
        decision: ACCEPTED, reason: "sinyal lemah") {{ location }} }}""")
    assert (await rows(conn))[str(S2)][2] == "Activity.location"


async def test_point_tiles_are_logged_and_cluster_tiles_not(api_as: ApiAs,
                                                            conn: AsyncConnection) -> None:
    sup = api_as("supervisor", SUP, "PEMKOT")
    assert (await sup.http.get(url("activities", tile_of(K1, 10)), params=OCT)).status_code == 200
    assert await rows(conn) == {}      # clusters: figures, not points
    t = tile_of(K1, 14)
    assert (await sup.http.get(url("activities", t), params=OCT)).status_code == 200
    tile = f"{t[0]}/{t[1]}/{t[2]}"
    assert await rows(conn) == {
        str(S1): (str(SUP), "supervisor", "tiles/activities", {"activities": 2, "tile": tile}),
        str(S2): (str(SUP), "supervisor", "tiles/activities", {"activities": 1, "tile": tile}),
    }


async def test_admins_query_the_log_in_pages(api: Api, api_as: ApiAs) -> None:
    await api_as("supervisor", SUP, "DINKES").data(LOCATIONS)       # S1, S2
    await api_as("supervisor", SUP, "PEMKOT").data(f'{{ activity(id: "{aid(6)}") {{ id }} }}')
    first = (await api.data(LOG, {"first": 2}))["accessLog"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"]
    newest = first["edges"][0]["node"]
    assert (newest["subject"]["id"], newest["what"], newest["actorRole"]) == \
        (str(S3), "activity", "supervisor")
    assert newest["subject"]["name"] == "Agus Salim"
    rest = (await api.data(LOG, {"first": 2, "after": first["pageInfo"]["endCursor"]}))
    assert len(rest["accessLog"]["edges"]) == 1
    assert not rest["accessLog"]["pageInfo"]["hasNextPage"]

    def subjects(data: dict[str, Any]) -> list[str]:
        return sorted(e["node"]["subject"]["id"] for e in data["accessLog"]["edges"])

    assert subjects(await api.data(LOG, {"f": {"staffId": str(S2)}})) == [str(S2)]
    assert subjects(await api.data(LOG, {"f": {"actorSub": str(SUP)}})) == \
        sorted([str(S1), str(S2), str(S3)])
    assert subjects(await api.data(LOG, {"f": {"actorSub": "someone-else"}})) == []
    today = datetime.now(WIB).date()
    assert len(subjects(await api.data(LOG, {"f": {"from": str(today), "to": str(today)}}))) == 3
    yesterday = str(today - timedelta(days=1))
    assert subjects(await api.data(LOG, {"f": {"to": yesterday}})) == []
    bad = await api.error(LOG, {"f": {"from": str(today), "to": yesterday}})
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_log_is_append_only(api_as: ApiAs, conn: AsyncConnection) -> None:
    await api_as("supervisor", SUP, "DINKES").data(LOCATIONS)
    with pytest.raises(DBAPIError, match="append-only"):
        await conn.execute(text("UPDATE access_log SET what = 'nothing'"))
    await conn.rollback()
    assert {r[2] for r in (await rows(conn)).values()} == {"Activity.location, activities"}


async def test_nothing_leaves_when_the_log_cannot_be_written(api_as: ApiAs,
                                                             conn: AsyncConnection) -> None:
    # What a request commits before its answer is its journal row (migration 0018), a page
    # answered by graph.fastpage its row of access_log_pages (0019).
    for journal in ("access_log_journal", "access_log_pages"):
        await conn.execute(text(f"ALTER TABLE {journal} RENAME TO {journal}_gone"))
    await conn.commit()
    sup = api_as("supervisor", SUP, "DINKES")
    for query in (LOCATIONS, LOCATIONS.replace("edges", "totalCount edges")):
        r = await sup.http.post("/graphql", json={"query": query})
        assert r.status_code == 500
        assert r.json() == {"errors": [{"message": "Internal server error; it has been logged.",
                                        "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
        assert str(aid(1)) not in r.text
    own = await api_as("staff", S1, "DINKES").http.post("/graphql", json={"query": LOCATIONS})
    assert own.status_code == 200      # one's own activities need no record


async def test_reads_the_log_cannot_take_yet_wait_in_the_journal(
        api: Api, api_as: ApiAs, conn: AsyncConnection) -> None:
    """The answer needs its journal row only; writing the log out after it may fail, and then
    the reads wait in the journal until it can, and `accessLog` shows them once it does."""
    await conn.execute(text("ALTER TABLE access_log RENAME TO access_log_gone"))
    await conn.commit()
    r = await api_as("supervisor", SUP, "DINKES").http.post("/graphql",
                                                            json={"query": LOCATIONS})
    assert r.status_code == 200 and "errors" not in r.json()
    journaled = (await conn.execute(text(
        "SELECT sub, fields, cardinality(subjects) FROM access_log_pages"))).all()
    assert journaled == [(str(SUP), ["Activity.location", "activities"], 2)]
    await conn.execute(text("ALTER TABLE access_log_gone RENAME TO access_log"))
    await conn.commit()
    log = await api.data(LOG, {"f": {"actorSub": str(SUP)}})
    assert {e["node"]["subject"]["id"] for e in log["accessLog"]["edges"]} == {str(S1), str(S2)}
    assert (await conn.execute(text("SELECT count(*) FROM access_log_pages"))).scalar() == 0


async def test_a_page_journaled_by_its_own_statement_is_written_out_unprompted(
        api_as: ApiAs, conn: AsyncConnection) -> None:
    """graph.fastpage commits the journal row in the page's statement, not through the access
    writer: the service still writes it out (within a second), without an `accessLog` read."""
    sup = api_as("supervisor", SUP, "DINKES")
    with statements(sup, "access_log") as seen:
        await sup.data(LOCATIONS)
    assert len(seen) == 1 and "string_agg(" in seen[0]     # the page writes its journal row
    async with asyncio.timeout(30):
        while not (await conn.execute(text("SELECT count(*) FROM access_log"))).scalar():
            await conn.rollback()
            await asyncio.sleep(0.1)
    assert (await conn.execute(text("SELECT count(*) FROM access_log_pages"))).scalar() == 0
    await conn.rollback()
    assert set(await rows(conn)) == {str(S1), str(S2)}


async def test_the_journal_refuses_what_the_log_would(conn: AsyncConnection) -> None:
    """A journal row that could not be written out would hold up every row after it."""
    for sub, role, what in (("", "admin", "activity"), ("x", "visitor", "activity"),
                            ("x", "admin", "")):
        with pytest.raises(DBAPIError, match="access log refuses"):
            await write(conn, Reader(sub, role, None),
                        [Entry(S1, what, {"activities": 1})])
        await conn.rollback()
    assert (await conn.execute(text("SELECT count(*) FROM access_log_journal"))).scalar() == 0
    for sub, role, fields in (("", "admin", ["activities"]), ("x", "visitor", ["activities"]),
                              ("x", "admin", []), ("x", "admin", [""])):
        with pytest.raises(DBAPIError, match="violates check constraint"):
            await conn.execute(text(
                "INSERT INTO access_log_pages (sub, role, fields, subjects, counts) "
                "VALUES (:sub, :role, :fields, ARRAY[CAST(:s AS uuid)], ARRAY[1])"),
                {"sub": sub, "role": role, "fields": fields, "s": S1})
        await conn.rollback()


def test_the_ledger_keeps_others_reads_by_person() -> None:
    me = uuid.uuid4()
    ledger = Ledger(Reader("sub", "supervisor", me))
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ledger.note("activities", [(a, S1), (b, S1), (c, me)])
    ledger.note("activity", [(a, S1)])
    (entry,) = ledger.entries()
    assert (entry.subject, entry.what, entry.detail) == (
        S1, "activities, activity", {"activities": 2, "fields": {"activities": 2, "activity": 1}})


async def test_new_rows_have_time_ordered_ids(api: Api, conn: AsyncConnection) -> None:
    """Version 7 ids (migration 0014): a request's rows append to the primary key's index."""
    for n in (5, 6):
        await api.data(f'{{ activity(id: "{aid(n)}") {{ id location }} }}')
    await expand(conn)
    found = (await conn.execute(text("SELECT id, at FROM access_log ORDER BY at"))).all()
    await conn.rollback()
    ids = [uuid.UUID(str(r[0])) for r in found]
    assert len(ids) == 2 and {i.version for i in ids} == {7}
    # The first 48 bits are the Unix milliseconds of the row's writing.
    for i, (_, at) in zip(ids, found, strict=True):
        assert abs(int(i.hex[:12], 16) - at.timestamp() * 1000) < 60_000
    stamps = [i.hex[:12] for i in ids]
    assert stamps == sorted(stamps)

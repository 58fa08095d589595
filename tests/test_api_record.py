"""recordActivity / recordActivities / setTarget through HTTP: in-band answers, idempotence."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import Api, serve, settings_for
from tests.payloads import ACTIVITY_FIELDS, RECORD_MANY, RECORD_ONE, activity, new_id
from tests.seed import K1, K2, K3, OUTSIDE, S1, S3, aid
from tests.sql_log import statements

STORED = f"query($id: ID!) {{ activity(id: $id) {{ {ACTIVITY_FIELDS} }} }}"


async def count(api: Api) -> int:
    """Rows stored, flagged for review or not (the list hides flagged ones by default)."""
    async with api.http.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        n: int = await conn.scalar(text("SELECT count(*) FROM activities"))
    return n


async def record_one(api: Api, payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(RECORD_ONE, {"i": payload}))["recordActivity"]
    return result


async def record_many(api: Api, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    data = await api.data(RECORD_MANY, {"i": payloads})
    results: list[dict[str, Any]] = data["recordActivities"]
    return results


async def stored(api: Api, id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (await api.data(STORED, {"id": id}))["activity"]
    return row


async def test_created_with_the_kelurahan_assigned_by_the_database(api: Api) -> None:
    payload = activity(1, K2, staffId=str(S3), category="LAYANAN", outcome="ADUAN")
    result = await record_one(api, payload)
    assert (result["id"], result["status"], result["error"]) == (payload["id"], "CREATED", None)
    node = result["activity"]
    assert node["area"] == {"code": K2}
    assert node["location"] == payload["location"]
    assert (node["category"], node["citizensServed"], node["outcome"], node["note"]) == (
        "LAYANAN", 3, "ADUAN", "test 1")
    assert node["startedAt"] == payload["startedAt"]
    assert node["staff"] == {"id": str(S3)}
    assert await stored(api, payload["id"]) == node
    assert await count(api) == 9


async def test_outside_every_kelurahan_is_stored_without_an_area(api: Api) -> None:
    result = await record_one(api, activity(1, None))
    assert result["status"] == "CREATED"
    assert result["activity"]["area"] is None
    assert result["activity"]["location"]["coordinates"] == list(OUTSIDE)


async def test_resending_the_same_payload_is_a_duplicate(api: Api) -> None:
    payload = activity(1, K1)
    created = await record_one(api, payload)
    again = await record_one(api, payload)
    assert (again["status"], again["error"]) == ("DUPLICATE", None)
    assert again["activity"] == created["activity"]
    # The same instant written with another offset is the same content.
    utc = await record_one(api, {**payload, "startedAt": "2026-10-20T02:00:00Z"})
    assert payload["startedAt"] == "2026-10-20T09:00:00+07:00"
    assert utc["status"] == "DUPLICATE"
    assert await count(api) == 9


async def test_same_id_other_content_is_a_conflict_and_changes_nothing(api: Api) -> None:
    payload = activity(1, K1)
    created = await record_one(api, payload)
    elsewhere = activity(1, K3)["location"]
    changed = await record_one(api, {**payload, "citizensServed": 30, "location": elsewhere})
    assert (changed["id"], changed["status"]) == (payload["id"], "REJECTED")
    assert changed["activity"] is None
    assert changed["error"]["code"] == "CONFLICT"
    assert payload["id"] in changed["error"]["message"]
    assert "new id" in changed["error"]["message"]
    assert await stored(api, payload["id"]) == created["activity"]
    assert created["activity"]["area"] == {"code": K1}


async def test_a_batch_of_valid_duplicate_and_invalid_items(api: Api) -> None:
    earlier = activity(1, K1)
    await record_one(api, earlier)
    batch = [
        activity(2, K2),                                                    # CREATED
        earlier,                                                            # DUPLICATE
        activity(3, location={"type": "Point", "coordinates": [-7.3, 112.7]}),  # lat, lon
        activity(4, category="NOPE"),
        activity(5, citizensServed=-1),
        activity(6, location={"type": "LineString", "coordinates": [[112.7, -7.3], [112.8, -7.3]]}),
        activity(7, staffId="00000000-0000-4000-8000-000000000099"),
        activity(8, outcome="NOPE"),
        {**earlier, "note": "edited"},                                      # CONFLICT
        activity(9, K3),                                                    # CREATED
        activity(9, K3),                                                    # same id again
    ]
    results = await record_many(api, batch)
    assert [r["id"] for r in results] == [p["id"] for p in batch]
    got = [(r["status"], r["error"]["code"] if r["error"] else None) for r in results]
    assert got == [
        ("CREATED", None), ("DUPLICATE", None), ("REJECTED", "INVALID_GEOMETRY"),
        ("REJECTED", "NOT_FOUND"), ("REJECTED", "BAD_USER_INPUT"), ("REJECTED", "INVALID_GEOMETRY"),
        ("REJECTED", "NOT_FOUND"), ("REJECTED", "NOT_FOUND"), ("REJECTED", "CONFLICT"),
        ("CREATED", None), ("DUPLICATE", None),
    ]
    messages = [r["error"]["message"] for r in results if r["error"]]
    assert "swap them" in messages[0]
    assert "NOPE" in messages[1]
    assert "citizensServed" in messages[2]
    assert "expected Point" in messages[3]
    assert "unknown staff" in messages[4]
    assert "unknown outcome" in messages[5]
    for r in results:
        assert (r["activity"] is None) is (r["status"] == "REJECTED")
    assert results[0]["activity"]["area"] == {"code": K2}
    assert results[9]["activity"]["area"] == {"code": K3}
    assert await count(api) == 8 + 3
    for r in results:
        if r["status"] == "REJECTED" and r["error"]["code"] != "CONFLICT":
            assert await stored(api, r["id"]) is None

    again = await record_many(api, batch)
    refused = [r["status"] for r in results[2:9]]
    assert [r["status"] for r in again] == ["DUPLICATE", "DUPLICATE", *refused,
                                           "DUPLICATE", "DUPLICATE"]
    assert [r["error"] for r in again] == [r["error"] for r in results]
    assert [r["activity"] for r in again] == [r["activity"] for r in results]
    assert await count(api) == 8 + 3


async def test_the_same_batch_sent_twice_at_once_is_stored_once(api: Api) -> None:
    batch = [activity(n, place) for n, place in enumerate((K1, K2, K3, None), start=1)]
    answers = await asyncio.gather(record_many(api, batch), record_many(api, batch))
    for i, pair in enumerate(zip(*answers, strict=True)):
        assert sorted(r["status"] for r in pair) == ["CREATED", "DUPLICATE"], i
        assert pair[0]["activity"] == pair[1]["activity"]
    assert await count(api) == 8 + 4


@pytest.mark.parametrize("field", ["category", "outcome", "note"])
async def test_text_the_database_cannot_hold_sinks_only_its_own_item(api: Api, field: str) -> None:
    """A NUL in one item's text is that item's error; its neighbours are stored all the same."""
    bad = activity(1, **{field: "BALITA\x00"})
    results = await record_many(api, [bad, activity(2)])
    assert [r["status"] for r in results] == ["REJECTED", "CREATED"]
    assert results[0]["error"] == {"code": "BAD_USER_INPUT",
                                   "message": f"{field} must not contain NUL characters"}
    assert await count(api) == 9


@pytest.mark.parametrize("change", [
    {"deviceTime": "0001-01-01T00:00:00+07:00"},     # a device whose clock was reset, in WIB
    {"deviceTime": "9999-12-31T23:59:59-05:00"},
    {"startedAt": "0001-01-01T00:00:00+07:00"},
    {"endedAt": "9999-12-31T23:59:59-05:00"},
], ids=["device-year-1", "device-year-9999", "started-year-1", "ended-year-9999"])
async def test_a_time_beyond_the_supported_dates_sinks_only_its_own_item(
        api: Api, change: dict[str, Any]) -> None:
    results = await record_many(api, [activity(1), activity(2, **change), activity(3)])
    assert [r["status"] for r in results] == ["CREATED", "REJECTED", "CREATED"]
    assert results[1]["error"]["code"] == "BAD_USER_INPUT"
    assert "is outside the supported dates 2000-01-01..2100-12-31" in results[1]["error"][
        "message"]
    assert await count(api) == 8 + 2
    assert await stored(api, new_id(2)) is None


REFUSED_NOTE = "the database refuses this note"


async def refuse_in_the_database(api: Api) -> None:
    """A rule only the database knows, so that an item passes every check and is still refused."""
    async with api.http.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(text(f"ALTER TABLE activities ADD CONSTRAINT refuse_note "
                                f"CHECK (note IS DISTINCT FROM '{REFUSED_NOTE}')"))


async def test_an_item_the_database_refuses_is_rejected_alone(api: Api) -> None:
    await refuse_in_the_database(api)
    alone = await record_one(api, activity(1, note=REFUSED_NOTE))
    assert (alone["status"], alone["error"]["code"]) == ("REJECTED", "BAD_USER_INPUT")
    assert "was refused by the database" in alone["error"]["message"]
    results = await record_many(api, [activity(2), activity(3, note=REFUSED_NOTE), activity(4)])
    assert [r["status"] for r in results] == ["CREATED", "REJECTED", "CREATED"]
    assert await count(api) == 8 + 2


async def test_a_transient_database_failure_fails_the_call_and_acknowledges_nothing(
        api: Api) -> None:
    """A deadlock is no fault of the item: REJECTED would tell the phone to drop it."""
    async with api.http.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(text("""
            CREATE FUNCTION deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.note = 'deadlock' THEN
                    RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
                END IF;
                RETURN NEW;
            END $$"""))
        await conn.execute(text("CREATE TRIGGER deadlock BEFORE INSERT ON activities "
                                "FOR EACH ROW EXECUTE FUNCTION deadlock()"))
    for batch in ([activity(1, note="deadlock")], [activity(2), activity(3, note="deadlock")]):
        err = await api.error(RECORD_MANY, {"i": batch})
        assert err["extensions"]["code"] != "BAD_USER_INPUT"
    assert await count(api) == 8


async def test_an_empty_batch_is_an_empty_answer(api: Api) -> None:
    assert await record_many(api, []) == []


async def test_a_batch_over_max_batch_is_refused_whole(db_url: str) -> None:
    async for api in serve(settings_for(db_url, max_batch=3)):
        assert [r["status"] for r in await record_many(api, [activity(n) for n in (1, 2, 3)])] == [
            "CREATED"] * 3
        err = await api.error(RECORD_MANY, {"i": [activity(n) for n in range(4, 8)]})
        assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "maximum (max_batch) is 3" in err["message"]
        assert await count(api) == 8 + 3
        for n in range(4, 8):
            assert await stored(api, new_id(n)) is None


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"startedAt": "2026-10-20T09:00:00"}, "BAD_USER_INPUT", "offset"),
    ({"startedAt": "2030-01-01T00:00:00+07:00"}, "BAD_USER_INPUT", "future"),
    ({"endedAt": "2026-10-19T09:00:00+07:00"}, "BAD_USER_INPUT", "endedAt"),
    ({"id": "not-a-uuid"}, "BAD_USER_INPUT", "not a UUID"),
    ({"note": "x" * 4001}, "LIMIT_EXCEEDED", "4000"),
    ({"accuracyMeters": -1.0}, "BAD_USER_INPUT", "accuracyMeters"),
    ({"note": "a\x00b"}, "BAD_USER_INPUT", "NUL"),
])
async def test_invalid_fields_are_rejected_with_a_reason(api: Api, change: dict[str, Any],
                                                         code: str, words: str) -> None:
    result = await record_one(api, activity(1, **change))
    assert result["status"] == "REJECTED"
    assert result["error"]["code"] == code
    assert words in result["error"]["message"]
    assert await count(api) == 8


SET_TARGET = """mutation($i: TargetInput!) { setTarget(input: $i) {
    id indicator value area { code } period { from to } } }"""


async def set_target(api: Api, **inp: Any) -> dict[str, Any]:
    target: dict[str, Any] = (await api.data(SET_TARGET, {"i": inp}))["setTarget"]
    return target


async def target_error(api: Api, **inp: Any) -> dict[str, Any]:
    return await api.error(SET_TARGET, {"i": inp})


async def test_set_target_by_month_then_update_it(api: Api) -> None:
    created = await set_target(api, indicator="BALITA", areaCode=K3, value=5, month="2026-11")
    assert {k: v for k, v in created.items() if k != "id"} == {
        "indicator": "BALITA", "value": 5.0, "area": {"code": K3},
        "period": {"from": "2026-11-01", "to": "2026-11-30"}}
    updated = await set_target(api, indicator="BALITA", areaCode=K3, value=7,
                               period={"from": "2026-11-01", "to": "2026-11-30"})
    assert (updated["id"], updated["value"]) == (created["id"], 7.0)
    data = await api.data("""query($c: String!) { area(code: $c) {
        targets(period: {from: "2026-11-10", to: "2026-11-10"}) { id value } } }""", {"c": K3})
    assert data["area"]["targets"] == [{"id": created["id"], "value": 7.0}]


async def test_set_target_changes_attainment(api: Api) -> None:
    await set_target(api, indicator="BALITA", areaCode=K1, value=2,
                     period={"from": "2026-10-01", "to": "2026-10-31"})
    data = await api.data("""{ area(code: "35.78.01.1001") {
        coverage(period: {from: "2026-10-01", to: "2026-10-31"}) {
            attainment { indicator target actual ratio met } } } }""")
    assert data["area"]["coverage"]["attainment"] == [
        {"indicator": "BALITA", "target": 2.0, "actual": 2, "ratio": 1.0, "met": True}]


async def test_set_target_december_month_form(api: Api) -> None:
    t = await set_target(api, indicator="ADUAN", areaCode=K2, value=1, month="2026-12")
    assert t["period"] == {"from": "2026-12-01", "to": "2026-12-31"}


@pytest.mark.parametrize(("inp", "code", "words"), [
    ({"indicator": "BALITA", "areaCode": K1, "value": 3,
      "period": {"from": "2026-10-15", "to": "2026-11-15"}}, "CONFLICT", "already covers"),
    ({"indicator": "NOPE", "areaCode": K1, "value": 3, "month": "2026-11"}, "NOT_FOUND", "NOPE"),
    ({"indicator": "BALITA", "areaCode": "35.78.99.9999", "value": 3, "month": "2026-11"},
     "NOT_FOUND", "35.78.99.9999"),
    ({"indicator": "BALITA", "areaCode": K1, "value": 3, "month": "2026-13"}, "BAD_USER_INPUT",
     "2026-11"),
    ({"indicator": "BALITA", "areaCode": K1, "value": 3}, "BAD_USER_INPUT", "exactly one"),
    ({"indicator": "BALITA", "areaCode": K1, "value": 3, "month": "2026-11",
      "period": {"from": "2026-11-01", "to": "2026-11-30"}}, "BAD_USER_INPUT", "exactly one"),
    ({"indicator": "BALITA", "areaCode": K1, "value": -3, "month": "2026-11"}, "BAD_USER_INPUT",
     "positive"),
    ({"indicator": "BALITA", "areaCode": K1, "value": 3,
      "period": {"from": "2026-11-30", "to": "2026-11-01"}}, "BAD_USER_INPUT", "after"),
])
async def test_set_target_refusals(api: Api, inp: dict[str, Any], code: str, words: str) -> None:
    err = await target_error(api, **inp)
    assert err["extensions"]["code"] == code
    assert words in err["message"]
    data = await api.data("""{ area(code: "35.78.01.1001") {
        targets(period: {from: "2026-01-01", to: "2026-12-31"}) { indicator value } } }""")
    assert data["area"]["targets"] == [{"indicator": "BALITA", "value": 4.0}]


# -- one item never sinks another: a property test --------------------------------------------

# Every kind of bad item that GraphQL's own types let through, with the answer it must get.
# (A value of the wrong type, say a string for citizensServed, refuses the whole request
# before any item is read: that is GraphQL, and the client's bug, not its data.)
BAD_ITEMS: dict[str, tuple[dict[str, Any], str]] = {
    "device-clock-reset": ({"deviceTime": "0001-01-01T00:00:00+07:00"}, "BAD_USER_INPUT"),
    "started-year-9999": ({"startedAt": "9999-12-31T23:59:59-05:00"}, "BAD_USER_INPUT"),
    "started-far-future": ({"startedAt": "2099-01-01T00:00:00+14:00"}, "BAD_USER_INPUT"),
    "started-naive": ({"startedAt": "2026-10-20T09:00:00"}, "BAD_USER_INPUT"),
    "ended-before": ({"endedAt": "2026-10-01T00:00:00+07:00"}, "BAD_USER_INPUT"),
    "citizens-negative": ({"citizensServed": -1}, "BAD_USER_INPUT"),
    "citizens-max-int": ({"citizensServed": 2**31 - 1}, "BAD_USER_INPUT"),
    "accuracy-huge": ({"accuracyMeters": 1e308}, "BAD_USER_INPUT"),
    "location-swapped": ({"location": {"type": "Point", "coordinates": [-7.25, 112.75]}},
                         "INVALID_GEOMETRY"),
    "location-deep": ({"location": {"type": "Point", "coordinates": [[[[112.75, -7.25]]]]}},
                      "INVALID_GEOMETRY"),
    "location-junk": ({"location": {"type": ["Point"], "coordinates": {}}}, "INVALID_GEOMETRY"),
    "note-nul": ({"note": "a\x00b"}, "BAD_USER_INPUT"),
    "note-long": ({"note": "ü" * 4_001}, "LIMIT_EXCEEDED"),
    "id-not-uuid": ({"id": "'; DROP TABLE activities; --"}, "BAD_USER_INPUT"),
    "staff-unknown": ({"staffId": "00000000-0000-4000-8000-0000000000ff"}, "NOT_FOUND"),
    "category-unknown": ({"category": "SENAM"}, "NOT_FOUND"),
    "outcome-unknown": ({"outcome": "GIZI"}, "NOT_FOUND"),
    "seeded-id-other-content": ({"id": str(aid(1))}, "CONFLICT"),
    "database-refuses": ({"note": REFUSED_NOTE}, "BAD_USER_INPUT"),
}
ids = itertools.count(10_000)   # fresh ids for every example, so examples never meet

valid_items = st.builds(
    lambda place, kind, day, hour, citizens, accuracy, note, device: activity(
        next(ids), place, staffId=str(kind[0]), category=kind[1], outcome=kind[2],
        startedAt=f"2026-10-{day:02d}T{hour:02d}:00:00+07:00", citizensServed=citizens,
        accuracyMeters=accuracy, note=note,
        deviceTime=f"2026-10-{day:02d}T{hour:02d}:0{device}:00+07:00" if device else None),
    st.sampled_from([K1, K2, K3, None]),
    st.sampled_from([(S1, "POSYANDU", "BALITA"), (S3, "LAYANAN", "ADUAN"),
                     (S1, "POSYANDU", None)]),
    st.integers(1, 28), st.integers(0, 23), st.integers(0, 10_000),
    st.one_of(st.none(), st.floats(0, 100_000)),
    st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\x00"), max_size=20)),
    st.integers(0, 9))
items = st.one_of(valid_items.map(lambda p: (p, None)),
                  st.sampled_from(sorted(BAD_ITEMS)).map(
                      lambda k: (activity(next(ids), **BAD_ITEMS[k][0]), BAD_ITEMS[k][1])))


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(items, min_size=1, max_size=8), repeat=st.booleans())
async def test_exactly_the_valid_items_are_stored_whatever_the_others(
        refusing_api: Api, batch: list[tuple[dict[str, Any], str | None]], repeat: bool) -> None:
    payloads = [p for p, _ in batch]
    expected = [("CREATED", None) if code is None else ("REJECTED", code) for _, code in batch]
    first_valid = next((p for p, code in batch if code is None), None)
    if repeat and first_valid is not None:   # the same item twice in one batch: a DUPLICATE
        payloads.append(first_valid)
        expected.append(("DUPLICATE", None))
    before = await count(refusing_api)

    results = await record_many(refusing_api, payloads)

    got = [(r["status"], r["error"]["code"] if r["error"] else None) for r in results]
    assert got == expected, [r["error"] for r in results]
    valid_ids = {p["id"] for p, code in batch if code is None}
    async with refusing_api.http.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        found = set((await conn.execute(text(
            "SELECT id::text FROM activities WHERE id::text = ANY(:ids)"),
            {"ids": [p["id"] for p in payloads]})).scalars())
    assert found == valid_ids | ({str(aid(1))} & {p["id"] for p in payloads})
    assert await count(refusing_api) == before + len(valid_ids)


@pytest.fixture
async def refusing_api(api: Api) -> Api:
    """`api`, whose database refuses one note (see refuse_in_the_database)."""
    await refuse_in_the_database(api)
    return api


async def test_a_batch_costs_four_statements_and_no_read_back_unless_asked(api: Api) -> None:
    """A phone syncing its queue asks for id and status: the stored rows are not read again.
    The batch's statements: the reference check, the INSERT, the judgement, COMMIT (not seen
    here: it is no cursor statement)."""
    lean = """mutation($i: [ActivityInput!]!) {
        recordActivities(inputs: $i) { id status ... on RecordResult { error { code } } } }"""
    # A month's first batch in this process also asks for its partition (once).
    await api.data(lean, {"i": [activity(9)]})
    with statements(api) as seen:
        data = await api.data(lean, {"i": [activity(1), activity(2)]})
    assert [r["status"] for r in data["recordActivities"]] == ["CREATED", "CREATED"]
    assert not [s for s in seen if "FROM activities_by_id(" in s]
    batch = [s for s in seen if s.strip() != "SELECT 1"]      # (the pool's pre-ping)
    assert len(batch) == 3 and not any("SAVEPOINT" in s for s in batch), batch
    # Asked for (here through a fragment), they are read back in one statement.
    with_fragment = """mutation($i: [ActivityInput!]!) {
        recordActivities(inputs: $i) { id status ...Stored } }
        fragment Stored on RecordResult { activity { id area { code } } }"""
    with statements(api, "FROM activities_by_id(") as seen:
        data = await api.data(with_fragment, {"i": [activity(3, K2)]})
    assert data["recordActivities"][0]["activity"]["area"] == {"code": K2}
    assert len(seen) == 1

"""The flags of migration 0009 on hand-made tracks, each on a true and a false case; every flag's
reason with its numbers; the review queue by confidence; a staff member contesting a flag on
their own record, and nobody else."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import Api, ApiAs
from tests.seed import K1, K3
from tests.tracks import DAY, KF, T1, T2, act, add_staff, metres_east, point, tid
from tests.tracks import record as send

DETAILS = """query($id: ID!) { activity(id: $id) {
    flags confidence review flagDetails { flag explanation } } }"""
CONTEST = """mutation($id: ID!, $note: String!, $flag: String) {
    contestFlags(activityId: $id, note: $note, flag: $flag) {
        review reviews { decision reason reviewer flagsAtReview } } }"""
SUP = uuid.UUID("00000000-0000-4000-8000-0000000000aa")     # a DINKES supervisor
QUEUE = """query($first: Int, $after: String) {
    flaggedActivities(orderBy: CONFIDENCE, first: $first, after: $after) {
        edges { node { id confidence } } pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture
async def staffed(conn: AsyncConnection) -> AsyncConnection:
    """T1 assigned to K1 and KF, T2 to K1, both from 1 November 2026."""
    await add_staff(conn, T1, [K1, KF])
    await add_staff(conn, T2, [K1])
    return conn


def at(hm: str, day: str = DAY) -> str:
    return f"{day}T{hm}:00+07:00"


async def flags(api: Api, *items: dict[str, Any]) -> dict[int, list[str]]:
    """Record `items` in one batch; the flags of each, by its number."""
    done = await send(api, *items)
    return {int(i.rsplit("-", 1)[1]): r["flags"] for i, r in done.items()}


async def details(api: Api, n: int) -> dict[str, str]:
    data = (await api.data(DETAILS, {"id": tid(n)}))["activity"]
    return {d["flag"]: d["explanation"] for d in data["flagDetails"]}


async def test_unreachable_from_the_end_of_the_last_visit(
        api: Api, staffed: AsyncConnection) -> None:
    # K1 -> KF is ~17 km: 20 minutes after a visit ends is ~51 km/h, 50 minutes ~20 km/h.
    got = await flags(
        api,
        act(1, "08:00", K1, endedAt=at("08:40")), act(2, "09:00", KF),
        act(3, "12:00", KF, endedAt=at("12:10")), act(4, "13:00", K1))
    assert got == {1: ["UNREACHABLE"], 2: ["UNREACHABLE"], 3: [], 4: []}
    reason = (await details(api, 2))["UNREACHABLE"]
    assert re.fullmatch(r"1\d\.\d km from the previous visit \(ended 08:40\) beyond both accuracy "
                        r"circles, in 20 min: 5\d km/h in a straight line, over the 45 km/h of "
                        r"city travel", reason), reason


async def test_a_static_day(api: Api, staffed: AsyncConnection) -> None:
    # T1: six visits from 08:00 to 15:00 within 4 m of one spot. T2: six, one 300 m away.
    hours = ["08:00", "09:30", "11:00", "12:30", "14:00", "15:00"]
    got = await flags(
        api,
        *(act(n, hm, metres_east(K1, n % 5)) for n, hm in enumerate(hours, 1)),
        *(act(10 + n, hm, metres_east(K1, 300 if n == 3 else 0.3 + n % 5), staff=T2)
          for n, hm in enumerate(hours, 1)))
    assert {n: got[n] for n in range(1, 7)} == {n: ["STATIC_DAY"] for n in range(1, 7)}
    assert all(got[10 + n] == [] for n in range(1, 7))
    assert (await details(api, 1))["STATIC_DAY"] == (
        f"all 6 records of {DAY[8:]} Nov 2026 (08:00 to 15:00) lie within 2 m of one spot")


async def test_a_static_day_needs_its_whole_day(api: Api, staffed: AsyncConnection) -> None:
    """Four visits at one spot pass; the fifth, synced later, flags the day."""
    hours = ["08:00", "10:00", "12:00", "14:00"]
    assert await flags(api, *(act(n, hm, K1) for n, hm in enumerate(hours, 1))) == {
        n: [] for n in range(1, 5)}
    assert (await flags(api, act(5, "15:30", K1)))[5] == ["STATIC_DAY"]
    data = await api.data("{ " + " ".join(
        f'a{n}: activity(id: "{tid(n)}") {{ flags }}' for n in range(1, 5)) + " }")
    assert all(v["flags"] == ["STATIC_DAY"] for v in data.values())


async def test_copied_coordinates(api: Api, staffed: AsyncConnection) -> None:
    lon, lat = point(K1)
    here = {"type": "Point", "coordinates": [lon, lat]}
    got = await flags(
        api,
        act(1, "09:00", K1, deviceTime=at("09:30")),
        # T2 at T1's very coordinates, saved later on the phone: the copy.
        act(2, "09:20", K1, staff=T2, location=here, deviceTime=at("10:00")),
        # T2 a metre away (tests.tracks): a colleague at the same posyandu.
        act(3, "11:00", K1, staff=T2))
    assert got == {1: [], 2: ["COPIED_LOCATION"], 3: []}
    assert (await details(api, 2))["COPIED_LOCATION"] == (
        "exactly the coordinates of another staff member's record of 03 Nov 2026 09:00")


async def test_a_copy_that_arrives_before_its_original(
        api: Api, staffed: AsyncConnection) -> None:
    lon, lat = metres_east(K1, 40)
    here = {"type": "Point", "coordinates": [lon, lat]}
    got = await flags(api, act(2, "09:20", K1, staff=T2, location=here,
                               deviceTime=at("10:00")))
    assert got == {2: []}
    # The original was saved first on its phone, which was offline until now.
    got = await flags(api, act(1, "09:00", K1, location=here, deviceTime=at("09:30")))
    assert got == {1: []}
    assert (await api.data(DETAILS, {"id": tid(2)}))["activity"]["flags"] == ["COPIED_LOCATION"]


async def test_a_backdated_burst(api: Api, staffed: AsyncConnection) -> None:
    # Three visits of the morning typed in at 16:00; two others typed late, but apart.
    got = await flags(
        api,
        act(1, "08:00", K1, deviceTime=at("16:00")),
        act(2, "10:00", metres_east(K1, 300), deviceTime=at("16:03")),
        act(3, "12:00", metres_east(K1, 600), deviceTime=at("16:06")),
        act(4, "08:30", K1, staff=T2, deviceTime=at("12:00")),
        act(5, "10:30", metres_east(K1, 300), staff=T2, deviceTime=at("15:00")),
        act(6, "13:00", metres_east(K1, 600), staff=T2, deviceTime=at("13:30")))
    assert got == {1: ["BACKDATED_BURST"], 2: ["BACKDATED_BURST"], 3: ["BACKDATED_BURST"],
                   4: [], 5: [], 6: []}
    assert (await details(api, 1))["BACKDATED_BURST"] == (
        "entered at 16:00 with 2 other records of the day within 15 min, 8.0 h after the visit "
        "it claims ended")


async def test_off_hours(api: Api, staffed: AsyncConnection) -> None:
    got = await flags(
        api, act(1, "05:30", K1), act(2, "06:00", metres_east(K1, 100)),
        act(3, "18:59", metres_east(K1, 200)), act(4, "21:15", metres_east(K1, 300)),
        act(5, "10:00", metres_east(K1, 400), startedAt=at("10:00", "2026-11-08")))
    assert got == {1: ["OFF_HOURS"], 2: [], 3: [], 4: ["OFF_HOURS"], 5: ["OFF_HOURS"]}
    assert (await details(api, 4))["OFF_HOURS"] == (
        "began 21:15 WIB, outside working hours 06:00 to 19:00")
    assert (await details(api, 5))["OFF_HOURS"] == "began 10:00 WIB on a Sunday"


async def test_outside_assignment_allows_a_neighbouring_kelurahan(
        api: Api, staffed: AsyncConnection) -> None:
    neighbour = await staffed.scalar(text("""
        SELECT b.code FROM area_neighbours n JOIN areas a ON a.id = n.area_id
        JOIN areas b ON b.id = n.neighbour_id WHERE a.code = :k ORDER BY b.code LIMIT 1"""),
        {"k": K1})
    assert neighbour is not None
    await staffed.commit()
    got = await flags(api, act(1, "09:00", neighbour, staff=T2),
                      act(2, "12:00", K3, staff=T2))
    assert got == {1: [], 2: ["OUTSIDE_ASSIGNMENT"]}
    assert re.fullmatch(r"[\d.]+ k?m from the nearest assigned area \(.+\), farther than 108 m "
                        r"of border and accuracy allowance, and not in a kelurahan next to it",
                        (await details(api, 2))["OUTSIDE_ASSIGNMENT"])


async def test_every_flag_carries_its_reason(api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "09:00", K1), act(2, "09:05", KF),
               act(3, "13:00", None, accuracyMeters=5000.0, mockLocation=True))
    assert re.fullmatch(r"2\d\d km/h from the previous record at 09:00, 1\d\.\d km away",
                        (await details(api, 2))["IMPOSSIBLE_SPEED"])
    assert re.fullmatch(r"2\d\d km/h to the next record at 09:05, 1\d\.\d km away",
                        (await details(api, 1))["IMPOSSIBLE_SPEED"])
    three = await details(api, 3)
    assert set(three) == {"OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT", "LOW_ACCURACY", "MOCK_LOCATION"}
    assert three["LOW_ACCURACY"] == ("GPS accuracy ±5.0 km, worse than 100 m, and the circle "
                                     "does not fit inside an assigned area")
    assert re.fullmatch(r"\d+\.\d km outside the city boundary, farther than 200 m of border "
                        r"and accuracy allowance", three["OUTSIDE_CITY"])
    assert all(three.values())


async def test_the_queue_by_confidence(api: Api, staffed: AsyncConnection) -> None:
    await send(api, act(1, "09:00", K1, accuracyMeters=5000.0),      # LOW_ACCURACY: 0.2
               act(2, "10:00", K1, mockLocation=True),               # MOCK_LOCATION: 0.95
               act(3, "11:00", K3),                                  # OUTSIDE_ASSIGNMENT: 0.3
               act(4, "21:00", K3))                                  # + OFF_HOURS: 0.65
    first = (await api.data(QUEUE, {"first": 2}))["flaggedActivities"]
    rest = (await api.data(QUEUE, {"first": 2, "after": first["pageInfo"]["endCursor"]}))[
        "flaggedActivities"]
    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert [n["id"] for n in nodes] == [tid(2), tid(4), tid(3), tid(1)]
    assert [round(n["confidence"], 3) for n in nodes] == [0.95, 0.65, 0.3, 0.2]
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    newest = await api.error(
        "query($a: String) { flaggedActivities(orderBy: CONFIDENCE, after: $a) { totalCount } }",
        {"a": (await api.data("{ flaggedActivities(first: 1) { pageInfo { endCursor } } }"))[
            "flaggedActivities"]["pageInfo"]["endCursor"]})
    assert newest["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_owner_contests_and_the_supervisor_reads_it(
        api: Api, api_as: ApiAs, staffed: AsyncConnection) -> None:
    await send(api, act(1, "21:00", K3), act(2, "09:00", K1, staff=T2, mockLocation=True))
    resolved = await api.data("""mutation($id: ID!) { resolveFlags(activityId: $id,
        decision: REJECTED, reason: "Malam hari di luar wilayah") { review } }""", {"id": tid(1)})
    assert resolved["resolveFlags"]["review"] == "REJECTED"

    owner = api_as("staff", T1, "DINKES")
    note = "Membantu posyandu kelurahan tetangga atas permintaan lurah"
    got = (await owner.data(CONTEST, {"id": tid(1), "note": f"  {note} ",
                                      "flag": "OUTSIDE_ASSIGNMENT"}))["contestFlags"]
    assert got["review"] == "PENDING"      # a rejection contested is reviewed again
    assert [(r["decision"], r["reason"], r["reviewer"], r["flagsAtReview"])
            for r in got["reviews"]] == [
        ("REJECTED", "Malam hari di luar wilayah", "test-admin",
         ["OUTSIDE_ASSIGNMENT", "OFF_HOURS"]),
        ("CONTESTED", note, str(T1), ["OUTSIDE_ASSIGNMENT"])]

    supervisor = api_as("supervisor", SUP, "DINKES")
    seen = (await supervisor.data("""query($id: ID!) { activity(id: $id) {
        reviews { decision reason } } }""", {"id": tid(1)}))["activity"]["reviews"]
    assert seen[-1] == {"decision": "CONTESTED", "reason": note}


@pytest.mark.parametrize(("role", "sub", "n", "variables", "code"), [
    ("staff", T2, 1, {}, "FORBIDDEN"),                     # someone else's record
    ("supervisor", SUP, 1, {}, "FORBIDDEN"),
    ("admin", None, 1, {}, "FORBIDDEN"),
    ("staff", T1, 3, {}, "BAD_USER_INPUT"),                # no flags to contest
    ("staff", T1, 1, {"flag": "MOCK_LOCATION"}, "BAD_USER_INPUT"),   # not one of its flags
    ("staff", T1, 1, {"note": " "}, "BAD_USER_INPUT"),
    ("staff", T1, 99, {}, "NOT_FOUND"),
])
async def test_contesting_refuses_and_changes_nothing(
        api: Api, api_as: ApiAs, staffed: AsyncConnection, role: str, sub: uuid.UUID | None,
        n: int, variables: dict[str, str], code: str) -> None:
    await send(api, act(1, "21:00", K3), act(3, "10:00", K1))
    err = await api_as(role, sub, "DINKES").error(
        CONTEST, {"id": tid(n), "note": "saya di sana", **variables})
    assert err["extensions"]["code"] == code
    assert await staffed.scalar(text("SELECT count(*) FROM flag_reviews")) == 0

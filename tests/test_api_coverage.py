"""coverage and target attainment through HTTP, against the seed's hand-counted October."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from tests.conftest import Api
from tests.payloads import OCTOBER
from tests.seed import K1, K2, K3, KEC1, KEC2, TARGETS, aid
from tests.seed import OCTOBER as EXPECTED

FIGURES = "activities distinctStaff citizensServed outcomesMet"
COVERAGE = f"""query($l: AreaLevel!, $p: Period!, $f: ActivityFilter) {{
    coverage(level: $l, period: $p, filter: $f) {{
        area {{ code areaKm2 parent {{ code }} }}
        {FIGURES} outcomeRate lastActivityAt activitiesPerKm2
        attainment {{ indicator target actual ratio met }} }} }}"""


def figures(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return row["activities"], row["distinctStaff"], row["citizensServed"], row["outcomesMet"]


async def coverage(api: Api, level: str, period: dict[str, str] = OCTOBER,
                   f: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    data = await api.data(COVERAGE, {"l": level, "p": period, "f": f})
    rows = data["coverage"]
    codes = [r["area"]["code"] for r in rows]
    assert codes == sorted(codes)
    return {r["area"]["code"]: r for r in rows}


@pytest.mark.parametrize(("level", "count"), [("KELURAHAN", 153), ("KECAMATAN", 31), ("CITY", 1)])
async def test_october_figures_at_every_level(api: Api, level: str, count: int) -> None:
    rows = await coverage(api, level)
    assert len(rows) == count
    for code, row in rows.items():
        expected = EXPECTED.get(code, (0, 0, 0, 0))
        assert figures(row) == expected, code
        if expected[0] == 0:
            empty = (row["outcomeRate"], row["lastActivityAt"], row["activitiesPerKm2"])
            assert empty == (None, None, 0)
        else:
            assert row["outcomeRate"] == round(expected[3] / expected[0], 6)
            per_km2 = expected[0] / row["area"]["areaKm2"]
            assert row["activitiesPerKm2"] == pytest.approx(per_km2, abs=1e-6)
    busy = {"KELURAHAN": 3, "KECAMATAN": 2, "CITY": 1}[level]
    assert sum(1 for c in rows if c in EXPECTED) == busy


async def test_last_activity_time_is_wib(api: Api) -> None:
    rows = await coverage(api, "KELURAHAN")
    assert rows[K1]["lastActivityAt"] == "2026-10-06T10:00:00+07:00"
    assert rows[K3]["lastActivityAt"] == "2026-10-09T11:00:00+07:00"
    city = await coverage(api, "CITY")
    assert city["35.78"]["lastActivityAt"] == "2026-10-10T08:00:00+07:00"   # the one outside


async def test_kecamatan_is_the_sum_of_its_kelurahan_but_staff_are_distinct(api: Api) -> None:
    kel, kec = await coverage(api, "KELURAHAN"), await coverage(api, "KECAMATAN")
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in kel.values():
        for i, v in enumerate(figures(row)):
            sums[row["area"]["parent"]["code"]][i] += v
    assert set(sums) == set(kec)
    for code, row in kec.items():
        activities, _, citizens, met = figures(row)
        assert (activities, citizens, met) == (sums[code][0], sums[code][2], sums[code][3]), code
    # S2 served in K1 and K2: once in the kecamatan, not twice.
    assert (kec[KEC1]["distinctStaff"], sums[KEC1][1]) == (3, 4)


async def test_outside_every_kelurahan_counts_only_at_city(api: Api) -> None:
    kec, city = await coverage(api, "KECAMATAN"), await coverage(api, "CITY")
    assert sum(r["activities"] for r in kec.values()) == 6
    assert city["35.78"]["activities"] == 7
    assert sum(r["citizensServed"] for r in kec.values()) + 1 == city["35.78"]["citizensServed"]


def attainment(row: dict[str, Any]) -> dict[str, tuple[float, int, float, bool]]:
    return {a["indicator"]: (a["target"], a["actual"], a["ratio"], a["met"])
            for a in row["attainment"]}


async def test_attainment_in_october(api: Api) -> None:
    kel = await coverage(api, "KELURAHAN")
    assert attainment(kel[K1]) == {"BALITA": (4.0, 2, 0.5, False)}
    assert attainment(kel[K2]) == {"ADUAN": (2.0, 1, 0.5, False)}
    assert attainment(kel[K3]) == {}
    # A kecamatan's target is the sum of those set inside it; the actual counts the areas that
    # carry the target (K2's met BALITA has no BALITA target there).
    kec = await coverage(api, "KECAMATAN")
    assert attainment(kec[KEC1]) == {"ADUAN": (2.0, 1, 0.5, False), "BALITA": (4.0, 2, 0.5, False)}
    assert attainment(kec[KEC2]) == {}
    city = await coverage(api, "CITY")
    assert attainment(city["35.78"]) == attainment(kec[KEC1])


async def test_attainment_is_prorated_to_a_half_period(api: Api) -> None:
    kel = await coverage(api, "KELURAHAN", {"from": "2026-10-01", "to": "2026-10-15"})
    target = round(4 * 15 / 31, 6)
    assert attainment(kel[K1]) == {"BALITA": (target, 2, round(2 / (4 * 15 / 31), 6), True)}
    assert attainment(kel[K2]) == {"ADUAN": (round(2 * 15 / 31, 6), 1, round(31 / 30, 6), True)}


async def test_no_attainment_outside_the_targets_period(api: Api) -> None:
    kel = await coverage(api, "KELURAHAN", {"from": "2026-09-01", "to": "2026-09-30"})
    assert attainment(kel[K1]) == {}
    assert figures(kel[K1]) == (1, 1, 6, 1)     # aid(8), 23:59 WIB on 30 September


async def test_area_coverage_and_targets_agree_with_the_root(api: Api) -> None:
    root = await coverage(api, "KELURAHAN")
    data = await api.data(f"""query($c: String!, $p: Period!) {{ area(code: $c) {{
        coverage(period: $p) {{
            {FIGURES} outcomeRate attainment {{ indicator target actual ratio met }} }}
        targets(period: $p) {{ indicator value period {{ from to }} area {{ code }} }}
        children {{
            code coverage(period: $p) {{ {FIGURES} }} targets(period: $p) {{ indicator value }} }}
    }} }}""", {"c": KEC1, "p": OCTOBER})
    kec = data["area"]
    assert figures(kec["coverage"]) == EXPECTED[KEC1]
    assert attainment(kec["coverage"]) == attainment((await coverage(api, "KECAMATAN"))[KEC1])
    assert kec["targets"] == []     # targets are set on kelurahan, not on the kecamatan itself
    for child in kec["children"]:
        assert figures(child["coverage"]) == figures(root[child["code"]]), child["code"]
    targets = {c["code"]: c["targets"] for c in kec["children"] if c["targets"]}
    assert targets == {K1: [{"indicator": "BALITA", "value": 4.0}],
                       K2: [{"indicator": "ADUAN", "value": 2.0}]}
    one = await api.data("""query($c: String!, $p: Period!) { area(code: $c) {
        targets(period: $p) { indicator value period { from to } area { code } } } }""",
                         {"c": K1, "p": OCTOBER})
    _, _, start, end, value = TARGETS[0]
    assert one["area"]["targets"] == [{"indicator": "BALITA", "value": value, "area": {"code": K1},
                                       "period": {"from": start, "to": "2026-10-31"}}]
    assert end == "2026-11-01"      # the seed's range is half-open; the API says inclusive days


async def test_coverage_with_a_filter(api: Api) -> None:
    kec = await coverage(api, "KECAMATAN", f={"category": "POSYANDU"})
    assert figures(kec[KEC1]) == (4, 2, 25, 3)
    assert figures(kec[KEC2]) == (0, 0, 0, 0)
    city = await coverage(api, "CITY", f={"category": "POSYANDU"})
    assert figures(city["35.78"]) == (5, 2, 26, 4)
    assert attainment(city["35.78"]) == {"BALITA": (4.0, 2, 0.5, False),
                                         "ADUAN": (2.0, 0, 0.0, False)}


async def test_coverage_within_an_area_lists_only_its_areas(api: Api) -> None:
    rows = await coverage(api, "KELURAHAN", f={"areaCode": KEC2})
    assert set(rows) == {c for c in (await coverage(api, "KELURAHAN")) if c.startswith(KEC2 + ".")}
    assert figures(rows[K3]) == EXPECTED[K3]
    city = await coverage(api, "CITY", f={"areaCode": KEC1})
    assert figures(city["35.78"]) == EXPECTED[KEC1]


@pytest.mark.parametrize(("day", "expected"), [("2026-09-30", aid(8)), ("2026-10-01", aid(1))])
async def test_wib_day_boundary(api: Api, day: str, expected: object) -> None:
    """00:30 WIB on 1 October (17:30 UTC on 30 September) belongs to 1 October."""
    period = {"from": day, "to": day}
    kel = await coverage(api, "KELURAHAN", period)
    assert {c: figures(r)[0] for c, r in kel.items() if r["activities"]} == {K1: 1}
    data = await api.data("""query($p: Period!) { activities(filter: {period: $p}) {
        totalCount edges { node { id startedAt } } } }""", {"p": period})
    assert data["activities"]["totalCount"] == 1
    assert [e["node"]["id"] for e in data["activities"]["edges"]] == [str(expected)]

"""Codes typed by a person: accepted in any case, and an unknown one names what would work."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

COVERAGE = """query($f: ActivityFilter) {
    coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-11-30"}, filter: $f) {
        area { code } activities citizensServed } }"""
ACTIVITIES = "query($f: ActivityFilter) { activities(filter: $f, first: 1) { totalCount } }"


async def answer(api: Api, query: str, **f: Any) -> dict[str, Any]:
    body = await api.post(query, {"f": f})
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def error(api: Api, query: str, **f: Any) -> tuple[str, str]:
    body = await api.post(query, {"f": f})
    (e,) = body["errors"]
    return e["extensions"]["code"], e["message"]


async def test_codes_in_any_case_give_the_same_figures(api: Api) -> None:
    for exact, typed in (({"category": "POSYANDU"}, {"category": "posyandu"}),
                         ({"unitCode": "DINKES"}, {"unitCode": "Dinkes"})):
        # coverage by category is read from the rollups, by unit from the activities
        same = await answer(api, COVERAGE, **exact)
        assert any(row["activities"] for row in same["coverage"]), exact
        assert await answer(api, COVERAGE, **typed) == same
        assert await answer(api, ACTIVITIES, **typed) == await answer(api, ACTIVITIES, **exact)


async def test_an_unknown_category_names_the_closest_and_lists_all(api: Api) -> None:
    code, message = await error(api, ACTIVITIES, category="posyandux")
    assert code == "NOT_FOUND"
    assert message == ("unknown service category 'posyandux': did you mean POSYANDU? "
                       "Known: LAYANAN, POSYANDU.")


async def test_an_unknown_unit_lists_the_units(api: Api) -> None:
    code, message = await error(api, COVERAGE, unitCode="DINSOS")
    assert code == "NOT_FOUND"
    assert message.endswith("Known: DINKES, KEC-357801, PEMKOT.")


async def test_an_unknown_area_names_the_closest_not_all_185(api: Api) -> None:
    code, message = await error(api, ACTIVITIES, areaCode="35.78.01.100")
    assert code == "NOT_FOUND"
    assert message.startswith("unknown area code '35.78.01.100': did you mean 35.78.01.100")
    assert "Known" not in message

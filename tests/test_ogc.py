"""OGC API – Features over in-process HTTP: the documents, the figures (equal to GraphQL's
coverage), paging, permissions and coded refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from graph.ogc import CONFORMANCE
from graph.ogc_params import ITEM_PARAMS
from tests.conftest import Api, ApiAs
from tests.seed import K1, K2, S3, aid
from tests.seed import OCTOBER as EXPECTED
from tests.test_api_coverage import coverage

OCT = "2026-10-01/2026-10-31"
GEOJSON = "application/geo+json"


async def get(api: Api, path: str, **params: str) -> httpx.Response:
    r = await api.http.get(path, params=params)
    assert r.status_code < 500, r.text
    return r


async def test_landing_links_to_the_api_conformance_and_collections(api: Api) -> None:
    r = await get(api, "/ogc")
    assert r.headers["content-type"] == "application/json"
    rels = {link["rel"]: link for link in r.json()["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["data"]["href"] == "http://jangkau.test/ogc/collections"
    conf = (await get(api, "/ogc/conformance")).json()
    assert conf["conformsTo"] == CONFORMANCE


async def test_the_openapi_document_validates_and_declares_every_parameter(api: Api) -> None:
    r = await get(api, "/ogc/api")
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    validate(doc)
    params = {p["$ref"].rsplit("/", 1)[1]
              for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert params == {"collectionId", *ITEM_PARAMS}


async def test_collections_list_what_the_caller_may_read(api: Api, api_as: ApiAs) -> None:
    ids = [c["id"] for c in (await get(api, "/ogc/collections")).json()["collections"]]
    assert ids == ["kelurahan", "kecamatan", "kota", "activities"]
    planner = api_as("planner", unit="PEMKOT")
    ids = [c["id"] for c in (await get(planner, "/ogc/collections")).json()["collections"]]
    assert ids == ["kelurahan", "kecamatan", "kota"]
    one = (await get(api, "/ogc/collections/kelurahan")).json()
    assert {link["rel"] for link in one["links"]} >= {"self", "alternate", "items"}
    assert one["extent"]["spatial"]["bbox"][0][0] == pytest.approx(112.6, abs=0.1)


async def test_kelurahan_items_carry_the_graphql_figures(api: Api) -> None:
    r = await get(api, "/ogc/collections/kelurahan/items", datetime=OCT, limit="1000")
    assert r.headers["content-type"] == GEOJSON
    body = r.json()
    assert body["numberMatched"] == body["numberReturned"] == 153
    want = await coverage(api, "KELURAHAN")
    for feature in body["features"]:
        p, g = feature["properties"], want[feature["id"]]
        assert (p["activities"], p["distinctStaff"], p["citizensServed"], p["outcomesMet"]) == \
            (g["activities"], g["distinctStaff"], g["citizensServed"], g["outcomesMet"])
        assert [(a["indicator"], a["actual"], a["target"]) for a in p["attainment"]] == \
            [(a["indicator"], a["actual"], a["target"]) for a in g["attainment"]]
    k1 = next(f for f in body["features"] if f["id"] == K1)
    assert k1["properties"]["activities"] == EXPECTED[K1][0]
    assert k1["geometry"]["type"] == "MultiPolygon"


async def test_one_feature_by_code_and_properties_selected(api: Api) -> None:
    r = await get(api, f"/ogc/collections/kelurahan/items/{K2}", datetime=OCT,
                  properties="activities,name")
    assert r.headers["content-type"] == GEOJSON
    feature = r.json()
    assert feature["id"] == K2
    assert feature["properties"] == {"name": feature["properties"]["name"],
                                     "activities": EXPECTED[K2][0]}
    assert {link["rel"] for link in feature["links"]} == {"self", "alternate", "collection"}
    missing = await get(api, "/ogc/collections/kelurahan/items/35.78.99.9999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


async def test_bbox_and_pages_with_next_and_prev(api: Api) -> None:
    seen: list[str] = []
    url: str | None = "/ogc/collections/kecamatan/items?limit=10&datetime=" + OCT
    pages = 0
    while url:
        body = (await api.http.get(url)).json()
        assert body["numberMatched"] == 31
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        assert (pages > 0) == ("prev" in links)
        url = links.get("next")
        pages += 1
    assert pages == 4 and len(seen) == 31 == len(set(seen))
    past = (await get(api, "/ogc/collections/kecamatan/items", offset="40")).json()
    assert (past["numberMatched"], past["numberReturned"], past["features"]) == (31, 0, [])
    box = await get(api, "/ogc/collections/kelurahan/items", bbox="112.70,-7.34,112.71,-7.33")
    assert 0 < box.json()["numberMatched"] < 10


async def test_activities_page_newest_first_and_are_logged(api: Api) -> None:
    body = (await get(api, "/ogc/collections/activities/items", datetime=OCT,
                      limit="2")).json()
    assert body["numberMatched"] == 7
    assert [f["id"] for f in body["features"]] == [str(aid(7)), str(aid(6))]
    assert body["features"][0]["geometry"]["type"] == "Point"
    one = (await get(api, f"/ogc/collections/activities/items/{aid(5)}")).json()
    assert one["properties"]["areaCode"] == K2
    assert one["properties"]["staffId"] == str(S3)
    log = await api.data("{ accessLog(first: 50) { edges { node { what actorSub } } } }")
    whats = {e["node"]["what"] for e in log["accessLog"]["edges"]}
    assert "ogc/activities" in whats


async def test_activities_are_refused_to_who_may_not_read_records(api_as: ApiAs) -> None:
    planner = await get(api_as("planner", unit="PEMKOT"), "/ogc/collections/activities/items")
    assert planner.status_code == 403
    assert planner.json()["code"] == "FORBIDDEN"
    anonymous = await get(api_as(None), "/ogc/collections/activities/items")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "UNAUTHENTICATED"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    # No public level configured: the public reads no figures either, and sees no collection.
    areas = await get(api_as(None), "/ogc/collections/kota/items")
    assert (areas.status_code, areas.json()["code"]) == (401, "UNAUTHENTICATED")
    listed = (await get(api_as(None), "/ogc/collections")).json()["collections"]
    assert listed == []


@pytest.mark.parametrize(("params", "says"), [
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "112,-7,111,-8"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"), ({"datetime": "2026-13-01"}, "datetime"),
    ({"datetime": "2026-10-31/2026-10-01"}, "after"), ({"datetime": "a/b/c"}, "datetime"),
    ({"limit": "0"}, "limit"), ({"limit": "100000"}, "limit"), ({"limit": "x"}, "limit"),
    ({"properties": "nope"}, "properties"), ({"f": "xml"}, "'f'"), ({"sort": "x"}, "sort"),
    ({"bbox-crs": "EPSG:4326"}, "bbox-crs"), ({"offset": "-1"}, "offset"),
])
async def test_bad_parameters_are_coded_400s(api: Api, params: dict[str, str],
                                             says: str) -> None:
    r = await get(api, "/ogc/collections/kelurahan/items", **params)
    assert r.status_code == 400, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == "BAD_USER_INPUT"
    assert says in body["description"]


async def test_unknown_collection_is_404(api: Api) -> None:
    r = await get(api, "/ogc/collections/desa/items")
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"


async def test_html_views(api: Api) -> None:
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/kota",
                 "/ogc/collections/kota/items", "/ogc/collections/kota/items/35.78",
                 "/ogc/api"):
        r = await get(api, path, f="html")
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert "<h1>" in r.text
    browser = await api.http.get("/ogc/collections", headers={"accept": "text/html"})
    assert "Kelurahan" in browser.text

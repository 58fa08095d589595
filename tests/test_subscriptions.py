"""Live updates through real sockets: graphql-transport-ws over WebSockets and graphql-sse over
HTTP, against uvicorn serving the app, fed by the database's NOTIFY."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from geo import api_keys
from geo.hub import QUEUE_SIZE, Hub, Overflow, Subscriber
from graph import streams
from tests.conftest import settings_for
from tests.live_server import Live, live_server
from tests.payloads import RECORD_MANY, activity
from tests.seed import K1, K2, S1, S2, S3
from tests.tokens import token
from tests.waits import within

ACTIVITY = """subscription($f: ActivityFilter, $since: DateTime) {
    activityRecorded(filter: $f, since: $since) { id receivedAt staff { id } area { code } } }"""
COVERAGE = """subscription($p: Period!) {
    coverageChanged(level: KELURAHAN, period: $p) {
        area { code } activities citizensServed outcomesMet } }"""
COVERAGE_QUERY = """query($p: Period!) {
    coverage(level: KELURAHAN, period: $p) {
        area { code } activities citizensServed outcomesMet } }"""
OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}
ADMIN = token("admin")
DINKES = token("supervisor", str(S1), "DINKES")       # S1 and S2 are DINKES staff
KECAMATAN = token("supervisor", str(S3), "KEC-357801")


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[Live]:
    async with live_server(settings_for(db_url)) as server:
        await within(server.app.state.hub.listening.wait(), 10)
        yield server


def joined(hub: Hub, n: int) -> bool:
    """`n` clients are members of channels, and every channel's run is on the feed."""
    members = sum(len(c.members) for c in hub.channels)
    return members == n and len(hub.subscribers) == len(hub.channels)


async def subscribers(live: Live, n: int) -> None:
    """Wait until `n` clients are subscribed (a subscribe message is handled asynchronously)."""
    async def check() -> None:
        while not joined(live.app.state.hub, n):
            await asyncio.sleep(0.01)
    await within(check(), 10)


async def record(live: Live, *payloads: dict[str, Any], as_token: str = ADMIN) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        r = await http.post("/graphql", json={"query": RECORD_MANY, "variables": {"i": payloads}},
                            headers={"Authorization": f"Bearer {as_token}"})
    statuses = [x["status"] for x in r.json()["data"]["recordActivities"]]
    assert statuses == ["CREATED"] * len(payloads)


@asynccontextmanager
async def socket(live: Live, bearer: str | None) -> AsyncIterator[ClientConnection]:
    url = live.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        payload = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        yield ws


async def start(ws: ClientConnection, op: str, query: str, **variables: Any) -> None:
    await ws.send(json.dumps({"id": op, "type": "subscribe",
                              "payload": {"query": query, "variables": variables}}))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await within(ws.recv(), 10))
    return message


async def test_a_recorded_activity_reaches_its_supervisor_and_not_another_units(
        live: Live) -> None:
    async with socket(live, DINKES) as dinkes, socket(live, KECAMATAN) as kec:
        await start(dinkes, "d", ACTIVITY)
        await start(kec, "k", ACTIVITY)
        await subscribers(live, 2)
        mine = activity(1, K1)                                    # S1: DINKES
        theirs = activity(2, K2, staffId=str(S3), category="LAYANAN", outcome="ADUAN")
        await record(live, mine)
        await record(live, theirs)
        got = await receive(dinkes)
        assert (got["id"], got["type"]) == ("d", "next")
        node = got["payload"]["data"]["activityRecorded"]
        assert (node["id"], node["staff"]["id"], node["area"]["code"]) == (mine["id"], str(S1), K1)
        # The kecamatan's supervisor gets their own staff's activity, never DINKES' before it.
        other = (await receive(kec))["payload"]["data"]["activityRecorded"]
        assert other["id"] == theirs["id"]


async def test_planners_may_not_subscribe_to_records(live: Live) -> None:
    async with socket(live, token("planner", unit="BAPPEDA")) as ws:
        await start(ws, "p", ACTIVITY)
        got = await receive(ws)
    assert got["type"] in ("error", "next")
    errors = got["payload"] if got["type"] == "error" else got["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_bad_token_is_refused_at_connection_init(live: Live) -> None:
    url = live.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": "Bearer not-a-token"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await within(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_the_socket_closes_when_its_token_expires(live: Live) -> None:
    async with socket(live, token("supervisor", str(S1), "DINKES", ttl=1)) as ws:
        await start(ws, "d", ACTIVITY)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await within(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_merged_coverage_changes_equal_coverage_afterwards(live: Live) -> None:
    async with socket(live, ADMIN) as ws:
        await start(ws, "c", COVERAGE, p=OCTOBER)
        await subscribers(live, 1)
        await record(live, activity(1, K1), activity(2, K2), activity(3, K1))
        changed = (await receive(ws))["payload"]["data"]["coverageChanged"]
    async with httpx.AsyncClient(base_url=live.url) as http:
        r = await http.post("/graphql", json={"query": COVERAGE_QUERY, "variables": {"p": OCTOBER}},
                            headers={"Authorization": f"Bearer {ADMIN}"})
    now = {row["area"]["code"]: row for row in r.json()["data"]["coverage"]}
    assert {row["area"]["code"] for row in changed} == {K1, K2}
    for row in changed:
        assert row == now[row["area"]["code"]]


async def test_resuming_with_since_misses_nothing_and_repeats_nothing(live: Live) -> None:
    async with socket(live, ADMIN) as ws:
        await start(ws, "a", ACTIVITY)
        await subscribers(live, 1)
        await record(live, activity(1))
        first = (await receive(ws))["payload"]["data"]["activityRecorded"]
    await subscribers(live, 0)
    await record(live, activity(2), activity(3))           # while nobody listens
    async with socket(live, ADMIN) as ws:
        await start(ws, "a", ACTIVITY, since=first["receivedAt"])
        await subscribers(live, 1)
        writer = asyncio.create_task(record(live, activity(4)))   # during the catch-up
        ids = [(await receive(ws))["payload"]["data"]["activityRecorded"]["id"]
               for _ in range(3)]
        await writer
    assert sorted(ids) == sorted(activity(n)["id"] for n in (2, 3, 4))


async def test_server_sent_events_deliver_with_the_same_rules(live: Live) -> None:
    body = {"query": ACTIVITY, "variables": {}}
    headers = {"Authorization": f"Bearer {DINKES}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http, \
            http.stream("POST", "/graphql", json=body, headers=headers) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        await subscribers(live, 1)
        await record(live, activity(5))
        lines = r.aiter_lines()
        event = await within(anext(lines), 10)
        data = await within(anext(lines), 10)
    assert event == "event: next"
    assert json.loads(data.removeprefix("data: "))["data"]["activityRecorded"]["id"] == \
        activity(5)["id"]


async def test_two_api_processes_on_one_database_both_deliver(db_url: str) -> None:
    async with live_server(settings_for(db_url)) as one, live_server(settings_for(db_url)) as two:
        for s in (one, two):
            await within(s.app.state.hub.listening.wait(), 10)
        async with socket(one, ADMIN) as a, socket(two, ADMIN) as b:
            await start(a, "a", ACTIVITY)
            await start(b, "b", ACTIVITY)
            await subscribers(one, 1)
            await subscribers(two, 1)
            await record(one, activity(6))
            got = [(await receive(ws))["payload"]["data"]["activityRecorded"]["id"]
                   for ws in (a, b)]
    assert got == [activity(6)["id"]] * 2


async def test_open_subscriptions_are_capped_per_caller(db_url: str) -> None:
    async with live_server(settings_for(db_url, max_subscriptions=1)) as live:
        await within(live.app.state.hub.listening.wait(), 10)
        async with socket(live, ADMIN) as ws:
            await start(ws, "1", ACTIVITY)
            await subscribers(live, 1)
            await start(ws, "2", ACTIVITY)
            got = await receive(ws)
    errors = got["payload"] if got["type"] == "error" else got["payload"]["errors"]
    assert (got["id"], errors[0]["extensions"]["code"]) == ("2", "LIMIT_EXCEEDED")


async def test_a_subscriber_that_falls_behind_is_told_and_closed() -> None:
    sub = Subscriber(accept=lambda batch: batch)
    assert all(sub.offer([n]) for n in range(QUEUE_SIZE))
    assert not sub.offer(["one too many"])
    with pytest.raises(Overflow):
        await sub.next()
    assert sub.closed and not sub.offer(["after"])


async def test_a_flagged_activity_is_announced_once_with_its_flags(live: Live) -> None:
    """Flags are judged by an UPDATE in the recording transaction: not a second recording."""
    query = "subscription { activityRecorded { id flags } }"
    async with socket(live, ADMIN) as ws:
        await start(ws, "a", query)
        await subscribers(live, 1)
        await record(live, activity(7, mockLocation=True))
        await record(live, activity(8))
        got = [(await receive(ws))["payload"]["data"]["activityRecorded"] for _ in range(2)]
    assert [g["id"] for g in got] == [activity(7)["id"], activity(8)["id"]]
    assert "MOCK_LOCATION" in got[0]["flags"] and got[1]["flags"] == []


async def test_subscriptions_have_the_limits_of_queries(db_url: str) -> None:
    async with live_server(settings_for(db_url, max_depth=2)) as live, socket(live, ADMIN) as ws:
        await start(ws, "deep", "subscription { activityRecorded { staff { unit { code } } } }")
        got = await receive(ws)
    errors = got["payload"] if got["type"] == "error" else got["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_a_socket_opened_with_an_api_key_closes_when_the_key_is_revoked(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "KEY_RECHECK_S", 0.2)
    engine = live.app.state.engine
    async with engine.begin() as conn:
        key, row = await api_keys.create(conn, name="live map", role="supervisor", unit="DINKES")
    url = live.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await start(ws, "k", ACTIVITY)
        await subscribers(live, 1)
        await record(live, activity(11))                      # S1: DINKES, the key's unit
        got = (await receive(ws))["payload"]["data"]["activityRecorded"]
        assert got["id"] == activity(11)["id"]
        async with engine.begin() as conn:
            await api_keys.revoke(conn, str(row.id))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await within(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_an_event_stream_outlives_the_request_bound(db_url: str) -> None:
    """The bound is on starting an answer: a live stream goes on past it. The activity is
    recorded through a second server without that tight bound (a cold first batch can take
    longer than 1 s on a slow machine); it reaches the stream by the database's NOTIFY."""
    async with live_server(settings_for(db_url, request_timeout_s=1.0)) as live, \
            live_server(settings_for(db_url)) as writer:
        await within(live.app.state.hub.listening.wait(), 10)
        headers = {"Authorization": f"Bearer {ADMIN}", "Accept": "text/event-stream"}
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http, \
                http.stream("POST", "/graphql", json={"query": ACTIVITY}, headers=headers) as r:
            await subscribers(live, 1)
            await asyncio.sleep(1.5)
            await record(writer, activity(12))
            lines = r.aiter_lines()
            assert await within(anext(lines), 10) == "event: next"
            data = json.loads((await within(anext(lines), 10)).removeprefix("data: "))
    assert data["data"]["activityRecorded"]["id"] == activity(12)["id"]


async def test_others_activities_sent_live_are_in_the_access_log_first(live: Live) -> None:
    """S2's activity sent to S1 (their supervisor) is on record, with one statement for the
    whole batch's subscribers (geo.hub)."""
    async with socket(live, DINKES) as ws:
        await start(ws, "d", ACTIVITY)
        await subscribers(live, 1)
        await record(live, activity(13, staffId=str(S2)))
        got = (await receive(ws))["payload"]["data"]["activityRecorded"]
    assert got["id"] == activity(13)["id"]
    async with httpx.AsyncClient(base_url=live.url) as http:
        log = "{ accessLog(first: 20) { edges { node { actorSub what subject { id } } } } }"
        r = await http.post("/graphql", headers={"Authorization": f"Bearer {ADMIN}"},
                            json={"query": log})
    entries = [e["node"] for e in r.json()["data"]["accessLog"]["edges"]]
    assert {"actorSub": str(S1), "what": "activityRecorded", "subject": {"id": str(S2)}} in entries


async def test_a_filter_code_in_any_case_matches_live_as_in_a_query(live: Live) -> None:
    query = """subscription { activityRecorded(filter: {category: "posyandu"}) { id category } }"""
    async with socket(live, ADMIN) as ws:
        await start(ws, "c", query)
        await subscribers(live, 1)
        await record(live, activity(14))                      # category POSYANDU
        got = (await receive(ws))["payload"]["data"]["activityRecorded"]
    assert (got["id"], got["category"]) == (activity(14)["id"], "POSYANDU")


async def test_clients_asking_the_same_in_one_scope_share_one_run_and_no_one_else_does(
        live: Live) -> None:
    """Two admins share a channel (one execution, the same bytes, each on the access log as
    themselves); each staff member runs alone and gets their own activities only; a planner
    asking the same document is refused, not handed the admins' results."""
    admins = [token("admin", f"admin-{n}") for n in (1, 2)]
    s1, s2 = token("staff", str(S1), "DINKES"), token("staff", str(S2), "DINKES")
    hub = live.app.state.hub
    async with socket(live, admins[0]) as a1, socket(live, admins[1]) as a2, \
            socket(live, s1) as w1, socket(live, s2) as w2, \
            socket(live, token("planner", unit="BAPPEDA")) as planner:
        for n, ws in enumerate((a1, a2, w1, w2)):
            await start(ws, str(n), ACTIVITY)
        await subscribers(live, 4)
        assert len(hub.channels) == 3          # the admins', S1's, S2's
        await start(planner, "p", ACTIVITY)
        refused = await receive(planner)
        await record(live, activity(21), activity(22, staffId=str(S2)))
        got = {name: [await receive(ws) for _ in range(n)]
               for name, ws, n in (("a1", a1, 2), ("a2", a2, 2), ("w1", w1, 1), ("w2", w2, 1))}
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert [m["payload"] for m in got["a1"]] == [m["payload"] for m in got["a2"]]
    ids = {k: [m["payload"]["data"]["activityRecorded"]["id"] for m in v] for k, v in got.items()}
    assert sorted(ids["a1"]) == sorted([activity(21)["id"], activity(22)["id"]])
    assert (ids["w1"], ids["w2"]) == ([activity(21)["id"]], [activity(22)["id"]])
    async with httpx.AsyncClient(base_url=live.url) as http:
        log = "{ accessLog(first: 50) { edges { node { actorSub what subject { id } } } } }"
        r = await http.post("/graphql", headers={"Authorization": f"Bearer {ADMIN}"},
                            json={"query": log})
    entries = [e["node"] for e in r.json()["data"]["accessLog"]["edges"]]
    for sub in ("admin-1", "admin-2"):
        for staff in (S1, S2):
            assert {"actorSub": sub, "what": "activityRecorded",
                    "subject": {"id": str(staff)}} in entries
    assert not any(e["actorSub"] in (str(S1), str(S2)) for e in entries)   # their own: unlogged


def test_a_subscription_given_since_runs_alone() -> None:
    """Its catch-up is its own: no channel key when `since` is given in any form."""
    q = "subscription($s: DateTime) { activityRecorded(since: $s) { id } }"
    assert streams.channel_key(q, {}, None, None) is not None
    assert streams.channel_key(q, {"s": None}, None, None) is not None
    assert streams.channel_key(q, {"s": "2026-10-01T00:00:00Z"}, None, None) is None
    for alone in ('subscription { activityRecorded(since: "2026-10-01T00:00:00Z") { id } }',
                  'subscription($s: DateTime = "2026-10-01T00:00:00Z") { '
                  'activityRecorded(since: $s) { id } }',
                  "subscription { ...F } fragment F on Subscription { activityRecorded { id } }"):
        assert streams.channel_key(alone, {}, None, None) is None

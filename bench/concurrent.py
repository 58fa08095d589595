"""64 clients for 30 s on a mix of three queries, Jangkau against PostGraphile doing the same
work on the same database; Jangkau's resident memory is sampled meanwhile."""

from __future__ import annotations

from typing import Any

from bench import queries
from bench.client import GraphQL, Http
from bench.context import Bench, same
from bench.database import admin_headers
from bench.load import LoadResult, run_wrk
from bench.report import QUICK_SKIP, Goal, Row

MIX_AREAS = 16       # area-by-code requests cycle through this many kelurahan
PAGE = 20


def _mixes(codes: list[str], t: tuple[str, str],
           days: tuple[str, str]) -> tuple[list[bytes], list[bytes]]:
    """The same requests for both: area by code with geometry, 20 activities, coverage."""
    ours, theirs = [], []
    for code in codes:
        ours += [GraphQL.body(queries.AREA, {"code": code}),
                 GraphQL.body(queries.ACTIVITIES, {"first": PAGE}),
                 GraphQL.body(queries.COVERAGE, {"from": days[0], "to": days[1]})]
        theirs += [GraphQL.body(queries.PG_AREA, {"code": code}),
                   GraphQL.body(queries.PG_ACTIVITIES, {"first": PAGE}),
                   GraphQL.body(queries.PG_COVERAGE, {"t0": t[0], "t1": t[1]})]
    return ours, theirs


def warm(port: int, bodies: list[bytes],
          headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each distinct request once: it must answer without errors before the load starts."""
    http = Http(port, headers=headers)
    try:
        api = GraphQL(http)
        return [api.post(body) for body in bodies]
    finally:
        http.close()


def _agree(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """Both servers answer the first area, the page and the coverage alike."""
    area, page, cov = ours[:3]
    their_area, their_page, their_cov = theirs[:3]
    same("area by code", [area["area"]["code"], bool(area["area"]["geometry"])],
         [their_area["areaByCode"]["code"], bool(their_area["areaByCode"]["geom"]["geojson"])])
    same("activities page", [e["node"]["id"] for e in page["activities"]["edges"]],
         [n["id"] for n in their_page["allActivities"]["nodes"]])
    same("coverage", [(c["area"]["code"], c["activities"]) for c in cov["coverage"]],
         [(n["code"], int(n["activities"])) for n in their_cov["coverageKelurahan"]["nodes"]])


async def concurrent(b: Bench) -> list[Row]:
    clients, seconds = b.opts.load_clients, b.opts.load_seconds
    load = Row("concurrent_mix", f"{clients} clients for {seconds} s: area+geometry, "
               f"activities first {PAGE}, coverage", "PostGraphile v4 + @graphile/postgis",
               "req/s", Goal("req/s ≥ 1.0×, 0 errors", "ratio", ">=", 1.0))
    memory = Row("server_rss", "Jangkau server memory under that load", "—", "MB",
                 Goal("RSS ≤ 250 MB", "value", "<=", 250))
    codes = [r for (r,) in await b.conn.fetch(
        "SELECT code FROM areas WHERE level = 'KELURAHAN' ORDER BY code LIMIT $1", MIX_AREAS)]
    start, end = b.period(30)
    t0, t1 = b.instants(30)
    ours, theirs = _mixes(codes, (t0.isoformat(), t1.isoformat()),
                          (start.isoformat(), end.isoformat()))
    auth = admin_headers()
    answers = warm(b.jangkau.port, ours, auth)
    before = b.jangkau.rss_mb()
    mine = run_wrk(b.jangkau.port, "/graphql", ours, clients, seconds, pid=b.jangkau.pid,
                   headers=auth)
    load.jangkau, load.errors = mine.figures(), mine.errors
    assert mine.peak_rss_mb is not None
    memory.jangkau = {"value": round(mine.peak_rss_mb, 1), "idle_before": round(before, 1)}
    memory.note = f"peak VmRSS while loaded; {before:.0f} MB before the load"
    if b.postgraphile is None:
        load.status = QUICK_SKIP
        return [load.finish(), memory.finish()]
    _agree(answers, warm(b.postgraphile.port, theirs))
    peer: LoadResult = run_wrk(b.postgraphile.port, "/graphql", theirs, clients, seconds,
                               pid=b.postgraphile.pid)
    load.ref = peer.figures()
    load.note = (f"PostGraphile: {peer.errors} errors, peak RSS {peer.peak_rss_mb:.0f} MB; "
                 "its coverage is a SQL function (peer.coverage_kelurahan) with the raw aggregate.")
    return [load.finish(), memory.finish()]

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { ApiError, hasTrend, makeClient, trendQuery } from "../api.js";

const realFetch = globalThis.fetch;
afterEach(() => { globalThis.fetch = realFetch; });

function answer(status, body) {
  globalThis.fetch = async (url, init) => {
    answer.last = { url, init };
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  };
}

test("data comes back, with the token when there is one", async () => {
  answer(200, { data: { units: [] } });
  assert.deepEqual(await makeClient("abc").graphql("{ units { code } }"), { units: [] });
  assert.equal(answer.last.url, "/graphql");
  assert.equal(answer.last.init.headers.authorization, "Bearer abc");
  await makeClient("").graphql("{ units { code } }");
  assert.equal(answer.last.init.headers.authorization, undefined);
});

test("a refusal carries the server's code, whatever its status", async () => {
  answer(401, { errors: [{ message: "needs a bearer token", extensions: { code: "UNAUTHENTICATED" } }] });
  await assert.rejects(makeClient("").graphql("{ x }"),
    (e) => e instanceof ApiError && e.code === "UNAUTHENTICATED");
  answer(200, { data: null, errors: [{ message: "period: 9000 days", extensions: { code: "LIMIT_EXCEEDED" } }] });
  await assert.rejects(makeClient("").graphql("{ x }"), (e) => e.code === "LIMIT_EXCEEDED");
});

test("no JSON, or no server at all, is still a coded error", async () => {
  answer(502, "<html>bad gateway</html>");
  await assert.rejects(makeClient("").graphql("{ x }"), (e) => e.code === "HTTP_502");
  globalThis.fetch = async () => { throw new TypeError("Failed to fetch"); };
  await assert.rejects(makeClient("").graphql("{ x }"), (e) => e.code === "NETWORK");
});

test("the trend needs coverageSeries and coverage(compareTo)", () => {
  const schema = (fields) => ({ __type: { fields } });
  const coverage = (args) => ({ name: "coverage", args: args.map((name) => ({ name })) });
  const series = { name: "coverageSeries", args: [] };
  assert.equal(hasTrend(schema([coverage(["level", "period"])])), false);
  assert.equal(hasTrend(schema([coverage(["level", "compareTo"])])), false);
  assert.equal(hasTrend(schema([series, coverage(["level"])])), false);
  assert.equal(hasTrend(schema([series, coverage(["level", "period", "compareTo"])])), true);
});

test("the trend's query carries level, period and bucket literally", () => {
  const q = trendQuery("KELURAHAN", "2026-11-01", "2026-11-30", "DAY");
  assert.match(q, /coverageSeries\(level: KELURAHAN, period: \{from: "2026-11-01", to: "2026-11-30"\}, bucket: DAY/);
  assert.throws(() => trendQuery("KELURAHAN", '2026-11-01"', "2026-11-30", "DAY"));
});

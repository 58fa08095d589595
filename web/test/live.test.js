import assert from "node:assert/strict";
import { test } from "node:test";

import { mergeFigures, parseSse, subscribe } from "../live.js";

test("SSE events are cut at blank lines, comments skipped, the rest kept", () => {
  const { events, rest } = parseSse(
    ": keep-alive\n\nevent: next\ndata: {\"a\":1}\n\nevent: next\r\ndata: {\"a\"\r\n\r\nevent: compl");
  assert.deepEqual(events, [{ event: "next", data: "{\"a\":1}" }, { event: "next", data: "{\"a\"" }]);
  assert.equal(rest, "event: compl");
  const more = parseSse(`${rest}ete\ndata:\n\n`);
  assert.deepEqual(more.events, [{ event: "complete", data: "" }]);
  assert.equal(more.rest, "");
});

test("multi-line data joins with newlines", () => {
  assert.deepEqual(parseSse("data: a\ndata: b\n\n").events, [{ event: "message", data: "a\nb" }]);
});

test("changed figures go into the features of those areas only", () => {
  const features = [
    { properties: { code: "A", name: "A", activities: 1, attainmentRatio: null } },
    { properties: { code: "B", name: "B", activities: 5 } },
  ];
  const changed = mergeFigures(features, [
    { area: { code: "A" }, activities: 2, citizensServed: 7,
      attainment: [{ ratio: 0.5 }, { ratio: 1.5 }] },
    { area: { code: "Z" }, activities: 9 },
  ]);
  assert.deepEqual(changed, ["A"]);
  assert.deepEqual(features[0].properties, {
    code: "A", name: "A", activities: 2, citizensServed: 7, attainmentRatio: 1,
    attainment: [{ ratio: 0.5 }, { ratio: 1.5 }],
  });
  assert.deepEqual(features[1].properties, { code: "B", name: "B", activities: 5 });
});

function streaming(chunks, status = 200) {
  globalThis.fetch = async (url, init) => {
    streaming.last = { url, init };
    const body = new ReadableStream({
      start(c) {
        for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
        c.close();
      },
    });
    return new Response(body, { status, headers: { "content-type": "text/event-stream" } });
  };
}

const ended = (run) => new Promise((resolve) => {
  const got = [];
  run({ onNext: (d) => got.push(d), onEnd: (err) => resolve({ got, err }) });
});

test("a subscription posts the query as an event stream and reads results split anywhere",
  async () => {
    const realFetch = globalThis.fetch;
    try {
      streaming([": hi\n\nevent: next\ndata: {\"data\":{\"n\":1}}\n", "\nevent: ne",
        "xt\ndata: {\"data\":{\"n\":2}}\n\nevent: complete\ndata:\n\n"]);
      const { got, err } = await ended((h) => subscribe({
        query: "subscription { x }", variables: { a: 1 }, auth: { authorization: "Bearer t" },
        ...h,
      }));
      assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
      assert.equal(err, null);
      assert.equal(streaming.last.init.method, "POST");
      assert.equal(streaming.last.init.headers.accept, "text/event-stream");
      assert.equal(streaming.last.init.headers.authorization, "Bearer t");
      assert.deepEqual(JSON.parse(streaming.last.init.body),
        { query: "subscription { x }", variables: { a: 1 } });

      const refusal = { errors: [{ message: "m", extensions: { code: "RESYNC_REQUIRED" } }] };
      streaming([`event: next\ndata: ${JSON.stringify(refusal)}\n\n`]);
      const resync = await ended((h) => subscribe({ query: "q", variables: {}, auth: {}, ...h }));
      assert.deepEqual(resync.got, []);
      assert.equal(resync.err.code, "RESYNC_REQUIRED");

      streaming([], 401);
      assert.equal((await ended((h) => subscribe({ query: "q", auth: {}, ...h }))).err.code,
        "HTTP_401");
    } finally {
      globalThis.fetch = realFetch;
    }
  });

test("a closed subscription says nothing more", async () => {
  const realFetch = globalThis.fetch;
  try {
    streaming(["event: next\ndata: {\"data\":{\"n\":1}}\n\n"]);
    let calls = 0;
    const close = subscribe({ query: "q", auth: {}, onNext: () => { calls += 1; },
      onEnd: () => { calls += 1; } });
    close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, 0);
  } finally {
    globalThis.fetch = realFetch;
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";

import { mergeFigures, parseSse } from "../live.js";

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

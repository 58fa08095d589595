import assert from "node:assert/strict";
import { test } from "node:test";

import { METRICS, NO_VALUE, breaks, classOf, classify, colours, total } from "../breaks.js";

const features = (values) => values.map((v, i) => ({ properties: { code: String(i), activities: v } }));

test("quantile breaks: many zeros are a class of their own", () => {
  const cuts = breaks([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 5);
  assert.equal(cuts[0], 1);
  assert.equal(classOf(0, cuts), 0);
  assert.ok(classOf(1, cuts) >= 1);
  assert.ok(cuts.every((c, i) => i === 0 || c > cuts[i - 1]), "cuts ascend");
});

test("ties collapse: few distinct values give fewer classes, never empty ones", () => {
  assert.deepEqual(breaks([5, 5, 5, 5], 5), []);
  assert.deepEqual(breaks([1, 1, 2, 2], 5), [2]);
  assert.deepEqual(breaks([], 5), []);
});

test("colours spread over the palette, light to dark", () => {
  const p = METRICS.activities.palette;
  assert.deepEqual(colours(p, 5), p);
  assert.deepEqual(colours(p, 2), [p[0], p[4]]);
  assert.deepEqual(colours(p, 1), [p[2]]);
});

test("classify colours every feature and counts each legend class", () => {
  const fs = features([0, 0, 0, 3, 9, 27, null]);
  const entries = classify(fs, "activities", String, "none");
  assert.equal(entries.reduce((n, e) => n + e.count, 0), fs.length);
  assert.equal(entries.at(-1).fill, NO_VALUE);
  assert.equal(entries.at(-1).label, "none");
  assert.equal(entries[0].label, "0");
  assert.equal(fs[6].properties.fill, NO_VALUE);
  for (const f of fs.slice(0, 6)) {
    const e = entries.find((x) => x.fill === f.properties.fill);
    assert.ok(e.min <= f.properties.activities && f.properties.activities <= e.max);
  }
});

test("total sums a figure, nulls as zero", () => {
  assert.equal(total(features([0, 2, null, 5]), "activities"), 7);
  assert.equal(total(features([]), "activities"), 0);
});

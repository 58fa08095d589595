import assert from "node:assert/strict";
import { test } from "node:test";

import { bucketFor, change, days, previousPeriod, sparkPath } from "../trend.js";

test("periods over 8 weeks are drawn by week, shorter ones by day", () => {
  assert.equal(days("2026-11-01", "2026-11-30"), 30);
  assert.equal(bucketFor("2026-11-01", "2026-11-30"), "DAY");
  assert.equal(bucketFor("2026-10-01", "2026-11-25"), "DAY");     // 56 days
  assert.equal(bucketFor("2026-10-01", "2026-11-26"), "WEEK");    // 57 days
});

test("the previous period has the same length and ends the day before", () => {
  assert.deepEqual(previousPeriod("2026-11-01", "2026-11-30"), { from: "2026-10-02", to: "2026-10-31" });
  assert.deepEqual(previousPeriod("2026-03-01", "2026-03-01"), { from: "2026-02-28", to: "2026-02-28" });
});

test("the sparkline spans the box, highest value at the top", () => {
  assert.equal(sparkPath([0, 5, 10], 100, 20), "M0.0,20.0 L50.0,10.0 L100.0,0.0");
  assert.equal(sparkPath([0, 0], 100, 20), "M0.0,20.0 L100.0,20.0");
  assert.equal(sparkPath([3], 100, 20), "M50.0,0.0");
  assert.equal(sparkPath([], 100, 20), "");
});

test("change against the previous period", () => {
  assert.deepEqual(change(12, 8), { delta: 4, ratio: 0.5 });
  assert.deepEqual(change(0, 4), { delta: -4, ratio: -1 });
  assert.deepEqual(change(3, 0), { delta: 3, ratio: null });
});

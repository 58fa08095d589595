import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addDays, formatDate, formatNumber, formatPeriod, formatTime, isIsoDate, periodEndingOn,
  presetOf, presetPeriod, wibDay,
} from "../fmt.js";

test("numbers as each language writes them", () => {
  assert.equal(formatNumber(1234.5, "decimal", "id"), "1.234,5");
  assert.equal(formatNumber(1234.5, "decimal", "en"), "1,234.5");
  assert.equal(formatNumber(3.14159, "decimal", "id"), "3,14");
  assert.equal(formatNumber(0.756, "percent", "id"), "76%");
  assert.equal(formatNumber(12000, "int", "id"), "12.000");
  assert.equal(formatNumber(null, "int", "id"), "—");
  assert.equal(formatNumber(NaN, "int", "en"), "—");
});

test("WIB days in Indonesian and English", () => {
  assert.equal(formatDate("2026-11-01", "id"), "1 Nov 2026");
  assert.equal(formatDate("2026-08-17", "id"), "17 Agu 2026");
  assert.equal(formatDate("2026-08-17", "en"), "17 Aug 2026");
  assert.equal(formatDate("2026-12-02", "id"), "2 Des 2026");
  assert.equal(formatPeriod("2026-11-01", "2026-11-30", "id"), "1 Nov 2026 – 30 Nov 2026");
  assert.equal(formatPeriod("2026-11-01", "2026-11-01", "en"), "1 Nov 2026");
});

test("an instant is told in WIB whatever the zone it was written in", () => {
  // 17:30 UTC on 31 Oct is 00:30 WIB on 1 Nov.
  assert.equal(formatTime("2026-10-31T17:30:00Z", "id"), "1 Nov 2026, 00.30 WIB");
  assert.equal(formatTime("2026-11-01T00:30:00+07:00", "en"), "1 Nov 2026, 00:30 WIB");
  assert.equal(wibDay(new Date("2026-10-31T17:30:00Z")), "2026-11-01");
  assert.equal(wibDay(new Date("2026-10-31T16:59:59Z")), "2026-10-31");
  assert.equal(formatTime(null, "id"), "—");
});

test("calendar arithmetic and the period presets", () => {
  assert.equal(addDays("2026-03-01", -1), "2026-02-28");
  assert.equal(addDays("2028-02-28", 1), "2028-02-29");
  assert.deepEqual(presetPeriod("last30", "2026-12-02"), { from: "2026-11-03", to: "2026-12-02" });
  assert.deepEqual(presetPeriod("last7", "2026-12-02"), { from: "2026-11-26", to: "2026-12-02" });
  assert.deepEqual(presetPeriod("this_month", "2026-12-02"), { from: "2026-12-01", to: "2026-12-02" });
  assert.deepEqual(presetPeriod("last_month", "2026-03-15"), { from: "2026-02-01", to: "2026-02-28" });
  assert.deepEqual(presetPeriod("last_month", "2026-01-05"), { from: "2025-12-01", to: "2025-12-31" });
  assert.equal(presetOf("2026-11-03", "2026-12-02", "2026-12-02"), "last30");
  assert.equal(presetOf("2026-11-04", "2026-12-02", "2026-12-02"), "custom");
  assert.equal(isIsoDate("2026-02-30") && isIsoDate("2026-13-01"), false);
  assert.equal(isIsoDate("2026-02-28"), true);
});

test("the offered period has the chosen period's length and ends on the last active day", () => {
  assert.deepEqual(periodEndingOn("2026-10-12", "2026-11-03", "2026-12-02"),
    { from: "2026-09-13", to: "2026-10-12" });
  assert.deepEqual(periodEndingOn("2026-10-12", "2026-12-02", "2026-12-02"),
    { from: "2026-10-12", to: "2026-10-12" });
});

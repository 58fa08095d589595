import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../api.js";
import { exportUrl, fileNameOf, refusalOf } from "../download.js";

test("the export URL leaves out empty parameters", () => {
  assert.equal(exportUrl("coverage", "csv", { level: "KELURAHAN", from: "2026-11-01", unitCode: "",
    category: null, lang: "id" }), "/export/coverage.csv?level=KELURAHAN&from=2026-11-01&lang=id");
});

test("the server's file name, filename* first, never a path", () => {
  assert.equal(fileNameOf('attachment; filename="cakupan_2026.csv"', "x"), "cakupan_2026.csv");
  assert.equal(fileNameOf("attachment; filename=a.xlsx", "x"), "a.xlsx");
  assert.equal(fileNameOf("attachment; filename=\"a.csv\"; filename*=UTF-8''cakupan%20%C3%A9.csv", "x"),
    "cakupan é.csv");
  assert.equal(fileNameOf('attachment; filename="../etc/p"', "x"), ".._etc_p");
  assert.equal(fileNameOf(null, "coverage.csv"), "coverage.csv");
});

test("a refused export carries the server's code in any envelope", () => {
  const plain = refusalOf(403, { error: { code: "FORBIDDEN", message: "no" } });
  assert.ok(plain instanceof ApiError);
  assert.equal(plain.code, "FORBIDDEN");
  assert.equal(refusalOf(400, { errors: [{ message: "m", extensions: { code: "BAD_USER_INPUT" } }] }).code,
    "BAD_USER_INPUT");
  assert.equal(refusalOf(502, null).code, "HTTP_502");
});

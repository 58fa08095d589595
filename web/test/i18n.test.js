import assert from "node:assert/strict";
import { test } from "node:test";

import { ERROR_CODES, STRINGS, errorText, translator } from "../i18n.js";

test("both languages have the same words", () => {
  assert.deepEqual(Object.keys(STRINGS.en).sort(), Object.keys(STRINGS.id).sort());
  for (const lang of ["id", "en"]) {
    for (const [key, text] of Object.entries(STRINGS[lang])) assert.ok(text, `${lang}.${key}`);
  }
});

test("every error code has its text, in each language", () => {
  for (const code of ERROR_CODES) {
    assert.notEqual(errorText(code, translator("id")), errorText(code, translator("en")), code);
    assert.ok(!errorText(code, translator("id")).includes("error_"), code);
  }
  assert.equal(errorText("LIMIT_EXCEEDED", translator("id")), STRINGS.id.error_LIMIT_EXCEEDED);
  assert.equal(errorText("TEAPOT", translator("id")), "Permintaan gagal (kode TEAPOT).");
});

test("placeholders are filled", () => {
  const t = translator("id");
  assert.equal(t("areas_count", { n: 153, period: "1 Nov 2026 – 30 Nov 2026" }),
    "153 wilayah, 1 Nov 2026 – 30 Nov 2026 (WIB)");
  assert.equal(t("no_such_key"), "no_such_key");
});

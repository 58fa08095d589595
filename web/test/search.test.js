import assert from "node:assert/strict";
import { test } from "node:test";

import { findAreas, normalise } from "../search.js";

const AREAS = [
  { code: "35.78.01", name: "Karang Pilang", level: "KECAMATAN" },
  { code: "35.78.01.1001", name: "Waru Gunung", level: "KELURAHAN" },
  { code: "35.78.02", name: "Wonocolo", level: "KECAMATAN" },
  { code: "35.78.02.1003", name: "Jemur Wonosari", level: "KELURAHAN" },
  { code: "35.78.03", name: "Wonokromo", level: "KECAMATAN" },
  { code: "35.78.03.1001", name: "Wonokromo", level: "KELURAHAN" },
];

test("names match whatever the case, accents, spaces or a kelurahan/kecamatan prefix", () => {
  assert.equal(normalise("  Kelurahan   WONOKROMO "), "wonokromo");
  assert.equal(normalise("Kec. Karang  Pilang"), "karang pilang");
  assert.equal(normalise("Wónocolo"), "wonocolo");
  assert.deepEqual(findAreas(AREAS, "kel. waru gunung").map((a) => a.code), ["35.78.01.1001"]);
});

test("best matches first: equal, then starting with, then a word, then anywhere", () => {
  const names = findAreas(AREAS, "wono").map((a) => `${a.name} ${a.code}`);
  assert.deepEqual(names, ["Wonocolo 35.78.02", "Wonokromo 35.78.03", "Wonokromo 35.78.03.1001",
    "Jemur Wonosari 35.78.02.1003"]);
  assert.equal(findAreas(AREAS, "Wonokromo")[0].name, "Wonokromo");
  assert.deepEqual(findAreas(AREAS, "ila").map((a) => a.name), ["Karang Pilang"]);
});

test("a code finds the area and those below it, the area first", () => {
  assert.deepEqual(findAreas(AREAS, "35.78.02").map((a) => a.code), ["35.78.02", "35.78.02.1003"]);
  assert.deepEqual(findAreas(AREAS, "35.78.03.1001").map((a) => a.code), ["35.78.03.1001"]);
});

test("nothing for an empty query or no match, and at most `limit`", () => {
  assert.deepEqual(findAreas(AREAS, "   "), []);
  assert.deepEqual(findAreas(AREAS, "surabaya utara"), []);
  assert.equal(findAreas(AREAS, "o", 2).length, 2);
});

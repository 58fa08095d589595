import assert from "node:assert/strict";
import { test } from "node:test";

import { canSeeTeam, sortRows, teamRows, tokenClaims } from "../team.js";

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

test("the token's claims, unverified, and who sees a team", () => {
  const claims = { role: "supervisor", unit: "DINKES", name: "Ñusa ü" };
  assert.deepEqual(tokenClaims(`${b64url({ alg: "HS256" })}.${b64url(claims)}.sig`), claims);
  assert.equal(tokenClaims("not a token"), null);
  assert.equal(tokenClaims(""), null);
  assert.ok(canSeeTeam(claims));
  assert.ok(canSeeTeam({ role: "admin" }));
  assert.ok(!canSeeTeam({ role: "planner" }));
  assert.ok(!canSeeTeam(null));
});

test("rows sort by a column, nulls last both ways, ties by name", () => {
  const rows = teamRows({ edges: [
    { node: { staff: { id: "1", name: "Budi" }, activities: 3, fieldShare: null } },
    { node: { staff: { id: "2", name: "Ani" }, activities: 3, fieldShare: 0.5 } },
    { node: { staff: { id: "3", name: "Citra" }, activities: 9, fieldShare: 0.2 } },
  ] });
  assert.deepEqual(sortRows(rows, "activities", false).map((r) => r.name), ["Ani", "Budi", "Citra"]);
  assert.deepEqual(sortRows(rows, "activities", true).map((r) => r.name), ["Citra", "Ani", "Budi"]);
  assert.deepEqual(sortRows(rows, "fieldShare", false).map((r) => r.id), ["3", "2", "1"]);
  assert.deepEqual(sortRows(rows, "fieldShare", true).map((r) => r.id), ["2", "3", "1"]);
  assert.deepEqual(sortRows(rows, "name", true).map((r) => r.name), ["Citra", "Budi", "Ani"]);
});

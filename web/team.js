// A supervisor's team: who the token says it is, the team query, and the table's order.

// The payload of a JWT (not verified: the server does that), or null.
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent([...atob(part.padEnd(Math.ceil(part.length / 4) * 4, "="))]
      .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

export const canSeeTeam = (claims) => ["supervisor", "admin"].includes(claims?.role);

export const TEAM_COLUMNS = ["name", "activities", "citizensServed", "outcomesMet", "outcomeRate",
  "fieldDays", "fieldShare", "flaggedShare"];

export const TEAM_QUERY = `query Team($unitCode: String!, $period: Period!, $filter: ActivityFilter) {
  team(unitCode: $unitCode, period: $period, filter: $filter, first: 200) {
    totalCount
    edges { node { staff { id name } activities citizensServed outcomesMet outcomeRate fieldDays
      fieldShare flaggedShare } }
  }
}`;

// One flat row per person, as the table shows them.
export function teamRows(team) {
  return team.edges.map(({ node }) => ({ ...node, id: node.staff.id, name: node.staff.name }));
}

// Rows by one column; nulls last either way, ties by name.
export function sortRows(rows, key, descending, locale = "id") {
  const byName = (a, b) => a.name.localeCompare(b.name, locale);
  return [...rows].sort((a, b) => {
    const [x, y] = [a[key], b[key]];
    if (x == null || y == null) return x == null ? (y == null ? byName(a, b) : 1) : -1;
    const order = typeof x === "string" ? x.localeCompare(y, locale) : x - y;
    return (descending ? -order : order) || byName(a, b);
  });
}

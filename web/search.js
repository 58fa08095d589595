// Finding an area by name or Kemendagri code, as a person types it: case, accents, extra
// spaces and a leading "kelurahan"/"kecamatan"/"kel."/"kec." do not matter. Pure.

const PREFIX = /^(kelurahan|kecamatan|kel\.?|kec\.?|desa)\s+/;

export function normalise(s) {
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/\s+/g, " ").trim().replace(PREFIX, "");
}

// Areas ({code, name, level}) matching `query`, best first: a code prefix, then a name equal
// to it, starting with it, with a word starting with it, containing it; ties by name.
export function findAreas(areas, query, limit = 8) {
  const q = normalise(query);
  if (!q) return [];
  const isCode = /^[\d.]+$/.test(q);
  const rank = (a) => {
    if (isCode) return a.code.startsWith(q) ? a.code.length : null;
    const name = normalise(a.name);
    if (name === q) return 0;
    if (name.startsWith(q)) return 1;
    if (name.split(" ").some((w) => w.startsWith(q))) return 2;
    return name.includes(q) ? 3 : null;
  };
  return areas.map((a) => ({ a, r: rank(a) }))
    .filter((x) => x.r != null)
    .sort((x, y) => x.r - y.r || x.a.name.localeCompare(y.a.name) || x.a.code.localeCompare(y.a.code))
    .slice(0, limit)
    .map((x) => x.a);
}

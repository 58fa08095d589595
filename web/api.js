// The page's only line to the server: GraphQL at /graphql, with the access token when there
// is one. A refusal becomes an ApiError carrying the server's `extensions.code`, which the page
// words in its own language (i18n.js errorText).

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export const QUERIES = {
  map: `query CoverageMap($level: AreaLevel!, $period: Period!, $filter: ActivityFilter, $zoom: Int) {
  coverageMap(level: $level, period: $period, filter: $filter, zoom: $zoom)
}`,
  // Names and codes for labels, search and filters: the same for every viewer.
  reference: `{
  areas { code name level labelPoint }
  units { code name kind }
  serviceCategories { code name unitCode }
  indicators { code name }
}`,
  lastDay: "query LastDay($filter: ActivityFilter) { lastActivityDate(filter: $filter) }",
  // Which of issue 10's fields this server has: the trend needs coverageSeries and compareTo.
  capabilities: '{ __type(name: "Query") { fields { name args { name } } } }',
};

// The sparkline's query. Level, period and bucket go in literally: the server prices a series
// (areas x buckets) before it runs, and a variable period would count as the longest allowed.
export function trendQuery(level, from, to, bucket) {
  for (const day of [from, to]) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`not a date: ${day}`);
  }
  if (!/^[A-Z]+$/.test(level) || !/^[A-Z]+$/.test(bucket)) throw new Error("not an enum value");
  const period = `{from: "${from}", to: "${to}"}`;
  return `query Trend($filter: ActivityFilter, $previous: Period!) {
  coverageSeries(level: ${level}, period: ${period}, bucket: ${bucket}, filter: $filter) {
    area { code } points { start end activities }
  }
  coverage(level: ${level}, period: ${period}, filter: $filter, compareTo: $previous) {
    area { code } activities previous { activities }
  }
}`;
}

// True when the server answers coverageSeries and coverage(compareTo).
export function hasTrend(capabilities) {
  const fields = new Map(capabilities.__type.fields.map((f) => [f.name, f.args.map((a) => a.name)]));
  return fields.has("coverageSeries") && (fields.get("coverage") ?? []).includes("compareTo");
}

export function makeClient(token) {
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  return {
    auth,
    async graphql(query, variables = {}) {
      let r;
      try {
        r = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json", ...auth },
          body: JSON.stringify({ query, variables }),
        });
      } catch (err) {
        throw new ApiError("NETWORK", err.message);
      }
      const body = await r.json().catch(() => null);
      const error = body?.errors?.[0];
      if (error) throw new ApiError(error.extensions?.code ?? `HTTP_${r.status}`, error.message);
      if (!r.ok || !body) throw new ApiError(`HTTP_${r.status}`, `HTTP ${r.status}`);
      return body.data;
    },
  };
}

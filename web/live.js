// The live map: `coverageChanged` over Server-Sent Events (graphql-sse, distinct connections;
// docs/LIVE.md). Each message carries the changed areas' new figures, merged into the features
// being drawn.
import { ApiError } from "./api.js";

export const LIVE_QUERY = `subscription Live($level: AreaLevel!, $period: Period!, $filter: ActivityFilter) {
  coverageChanged(level: $level, period: $period, filter: $filter) {
    area { code } activities distinctStaff citizensServed outcomesMet outcomeRate lastActivityAt
    activitiesPerKm2 attainment { indicator target actual ratio met }
  }
}`;

// Complete events in `text` ({event, data}), and the unfinished rest to keep for the next chunk.
export function parseSse(text) {
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  const events = [];
  for (const block of blocks) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;  // comments keep the stream alive
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length || event !== "message") events.push({ event, data: data.join("\n") });
  }
  return { events, rest };
}

const FIGURES = ["activities", "distinctStaff", "citizensServed", "outcomesMet", "outcomeRate",
  "lastActivityAt", "activitiesPerKm2", "attainment"];

// Put the changed areas' figures into the features (in place); the codes that were found.
export function mergeFigures(features, rows) {
  const byCode = new Map(features.map((f) => [f.properties.code, f.properties]));
  const changed = [];
  for (const row of rows) {
    const p = byCode.get(row.area.code);
    if (!p) continue;
    for (const key of FIGURES) if (key in row) p[key] = row[key];
    const ratios = (row.attainment ?? []).map((a) => a.ratio).filter((r) => r != null);
    if (row.attainment) p.attainmentRatio = ratios.length
      ? ratios.reduce((a, b) => a + b, 0) / ratios.length : null;
    changed.push(row.area.code);
  }
  return changed;
}

// Subscribe; `onNext(data)` for each result, `onEnd(error|null)` once when the stream ends by
// itself. Returns the function that closes it (then neither is called again).
export function subscribe({ query, variables, auth, onNext, onEnd }) {
  const abort = new AbortController();
  const end = (err) => { if (!abort.signal.aborted) onEnd(err); };
  (async () => {
    const r = await fetch("/graphql", {
      method: "POST", signal: abort.signal,
      headers: { "content-type": "application/json", accept: "text/event-stream", ...auth },
      body: JSON.stringify({ query, variables }),
    });
    if (!r.ok || !r.body) throw new ApiError(`HTTP_${r.status}`, `HTTP ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return end(null);
      const { events, rest } = parseSse(buffer + value);
      buffer = rest;
      for (const e of events) {
        if (e.event === "complete") return end(null);
        if (e.event !== "next") continue;
        const result = JSON.parse(e.data);
        const error = result.errors?.[0];
        if (error) return end(new ApiError(error.extensions?.code ?? "OTHER", error.message));
        if (!abort.signal.aborted) onNext(result.data);
      }
    }
  })().catch((err) => end(err instanceof ApiError ? err : new ApiError("NETWORK", err.message)));
  return () => abort.abort();
}

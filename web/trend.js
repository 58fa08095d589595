// An area's trend, for the details panel: the series' buckets, a sparkline's path and the change
// against the previous period of the same length. Pure, so node's test runner checks them.
import { addDays } from "./fmt.js";

const DAY_MS = 86_400_000;

export function days(from, to) {
  return Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1;
}

// WEEK buckets for periods over 8 weeks, else DAY (issue 10).
export function bucketFor(from, to) {
  return days(from, to) > 56 ? "WEEK" : "DAY";
}

// The period of the same length that ends the day before `from`.
export function previousPeriod(from, to) {
  const end = addDays(from, -1);
  return { from: addDays(end, 1 - days(from, to)), to: end };
}

// An SVG path through the values, left to right over `width`, 0 at the bottom of `height`.
export function sparkPath(values, width, height) {
  if (!values.length) return "";
  const top = Math.max(...values, 1);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((v, i) => {
    const x = values.length > 1 ? i * step : width / 2;
    const y = height - (v / top) * height;
    return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(" ");
}

// The change from `before` to `now`: the difference and its share of `before` (null from 0).
export function change(now, before) {
  return { delta: now - before, ratio: before ? (now - before) / before : null };
}

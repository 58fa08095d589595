// What the page shows, and its controls in the address bar so a view can be shared as a link.
import { isIsoDate, presetPeriod, wibDay } from "./fmt.js";
import { METRICS } from "./breaks.js";

const TOKEN_KEY = "jangkau.token";

export const token = sessionStorage.getItem(TOKEN_KEY) || "";

export function saveToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export const state = {
  lang: localStorage.getItem("jangkau.lang") === "en" ? "en" : "id",
  level: "KELURAHAN",
  metric: "activities",
  from: "",
  to: "",
  unit: "",         // unit code filter, "" for all
  category: "",     // service category filter, "" for all
  data: null,       // the FeatureCollection being drawn
  tiles: null,      // the TileJSON URL (with its period and filters) the points come from
  zoom: null,       // the (whole) zoom it was asked for
  selected: null,   // code of the area in the details panel
  hovered: null,
  error: null,      // the refusal shown instead of figures, re-worded on a language switch
  lastDay: undefined,  // the newest activity's WIB day for the filters (null: none ever)
  lastDayKey: null, // the filters it was asked for
  areas: [],        // every area's code, name, level and label point
  trend: null,      // the selected area's {key, code, points, now, before}, where the server has it
  staff: null,      // {id, name} of the person whose points alone are shown (team tab)
  // The team tab: its rows, the sort, the unit and filters they are for, what to say.
  team: { rows: null, sort: { key: "activities", descending: true }, key: null, note: () => "" },
  names: { indicators: new Map(), categories: new Map(), categoryUnits: new Map(), units: [] },
};

export function saveLanguage() {
  localStorage.setItem("jangkau.lang", state.lang);
}

// The filter of every figure and tile: the unit and the category chosen, if any.
export function activityFilter() {
  const f = {};
  if (state.unit) f.unitCode = state.unit;
  if (state.category) f.category = state.category;
  return Object.keys(f).length ? f : null;
}

const form = () => document.getElementById("controls");

export function readControls() {
  const { elements } = form();
  state.level = elements.level.value;
  state.metric = elements.metric.value;
  state.from = elements.from.value;
  state.to = elements.to.value;
  state.unit = elements.unit.value;
  state.category = elements.category.value;
  const q = new URLSearchParams({
    level: state.level, metric: state.metric, from: state.from, to: state.to,
  });
  if (state.unit) q.set("unit", state.unit);
  if (state.category) q.set("category", state.category);
  history.replaceState(null, "", `?${q}${location.hash}`);
}

// The controls from the address bar, else the last 30 WIB days of all units.
export function initControls() {
  const q = new URLSearchParams(location.search);
  const { elements } = form();
  const level = q.get("level") === "KECAMATAN" ? "KECAMATAN" : "KELURAHAN";
  form().querySelector(`input[name=level][value=${level}]`).checked = true;
  elements.metric.value = METRICS[q.get("metric")] ? q.get("metric") : "activities";
  const fallback = presetPeriod("last30", wibDay());
  elements.to.value = isIsoDate(q.get("to")) ? q.get("to") : fallback.to;
  elements.from.value = isIsoDate(q.get("from")) ? q.get("from") : fallback.from;
  // Filter options arrive with the reference lists; until then the choice waits in a data-*.
  elements.unit.dataset.wanted = q.get("unit") ?? "";
  elements.category.dataset.wanted = q.get("category") ?? "";
  readControls();
  state.unit = elements.unit.dataset.wanted;
  state.category = elements.category.dataset.wanted;
}

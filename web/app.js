// The map page. One GraphQL call (coverageMap) gives every area of the level with its figures,
// ready to draw; Jangkau's vector tiles give the activity points once zoomed in. Nothing else
// is fetched, from here or from anywhere.
//
// An access token (a bearer JWT) pasted into the panel is kept for this tab only and sent with
// every request. Without one the page shows what the server makes public
// (JANGKAU_PUBLIC_LEVEL): the choropleth, never the points.
import { LOCALES, STRINGS } from "./i18n.js";

const maplibregl = window.maplibregl;

// Kota Surabaya (35.78): the first view, so the first request already asks for the right zoom.
const CITY_BOUNDS = [[112.59, -7.352], [112.847, -7.192]];
const POINTS_MINZOOM = 13;
const CLASSES = 5;
const NO_VALUE = "#c9cdd3";
// Points read on every palette: solid dark where the outcome was met, a hollow ring where not.
const POINT_MET = "#111827";
const POINT_UNMET = "#ffffff";
const METRICS = {
  activities: { format: "int", palette: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"] },
  citizensServed: { format: "int", palette: ["#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"] },
  // Red to green: below the target reads as a warning, above it as done.
  attainmentRatio: {
    format: "percent", palette: ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
  },
  activitiesPerKm2: {
    format: "decimal", palette: ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"],
  },
};
const MAP_QUERY = `query CoverageMap($level: AreaLevel!, $period: Period!, $zoom: Int) {
  coverageMap(level: $level, period: $period, zoom: $zoom)
}`;
const NAMES_QUERY = "{ indicators { code name } serviceCategories { code name } }";
const EMPTY = { type: "FeatureCollection", features: [] };

const $ = (id) => document.getElementById(id);
const state = {
  lang: localStorage.getItem("jangkau.lang") === "en" ? "en" : "id",
  level: "KELURAHAN",
  metric: "activities",
  from: "",
  to: "",
  data: null,       // the FeatureCollection being drawn
  tiles: null,      // the TileJSON URL (with its period) the points come from
  zoom: null,       // the (whole) zoom it was asked for
  selected: null,   // code of the area in the details panel
  hovered: null,
  names: { indicators: new Map(), categories: new Map() },
};
const cache = new Map();
const TOKEN_KEY = "jangkau.token";
const token = sessionStorage.getItem(TOKEN_KEY) || "";
const auth = token ? { authorization: `Bearer ${token}` } : {};
let loadSeq = 0;
let drawSeq = 0;

// ---- words and numbers --------------------------------------------------------------------

function t(key, vars = {}) {
  const s = STRINGS[state.lang][key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));
}

function fmt(x, format) {
  if (x == null || !Number.isFinite(x)) return t("none");
  const options = {
    int: { maximumFractionDigits: 0 },
    decimal: { maximumFractionDigits: x < 10 ? 2 : 1 },
    percent: { style: "percent", maximumFractionDigits: 0 },
  }[format];
  return new Intl.NumberFormat(LOCALES[state.lang], options).format(x);
}

function fmtTime(iso) {
  if (!iso) return t("none");
  return new Intl.DateTimeFormat(LOCALES[state.lang], {
    dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Jakarta",
  }).format(new Date(iso)) + " WIB";
}

// Days are WIB days whatever the browser's own time zone.
function todayWib() {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit", day: "2-digit",
  }).format(new Date());
}

function addDays(isoDate, n) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// ---- class breaks -------------------------------------------------------------------------

// Quantile breaks from the drawn values: class i holds values >= cuts[i-1] and < cuts[i].
// A minimum shared by many areas (typically 0: nobody went there) is a class of its own and
// the other values share the remaining classes; otherwise quantiles would lump "none" with
// "a few". Ties collapse, so few distinct values give fewer classes, never empty ones.
function breaks(values, k) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  const above = v.filter((x) => x > v[0]);
  const ownClass = above.length > 0 && v.length - above.length >= v.length / k;
  const [pool, n] = ownClass ? [above, k - 1] : [v, k];
  const cuts = ownClass ? [above[0]] : [];
  for (let i = 1; i < n; i += 1) {
    const c = pool[Math.floor((i * pool.length) / n)];
    if (c > v[0] && c !== cuts.at(-1)) cuts.push(c);
  }
  return cuts;
}

function classOf(x, cuts) {
  return cuts.filter((c) => c <= x).length;
}

// Spread n classes over the metric's palette, light to dark.
function colours(palette, n) {
  if (n === 1) return [palette[Math.floor(palette.length / 2)]];
  const step = (palette.length - 1) / (n - 1);
  return Array.from({ length: n }, (_, i) => palette[Math.round(i * step)]);
}

// Colour every feature (`fill`) and describe each class for the legend.
function classify(features, metric) {
  const { palette, format } = METRICS[metric];
  const values = features.map((f) => f.properties[metric]).filter((x) => x != null);
  const cuts = breaks(values, CLASSES);
  const fills = colours(palette, cuts.length + 1);
  const classes = fills.map((fill) => ({ fill, min: Infinity, max: -Infinity, count: 0 }));
  const missing = { fill: NO_VALUE, label: t("no_value"), count: 0 };
  for (const f of features) {
    const x = f.properties[metric];
    if (x == null) {
      f.properties.fill = NO_VALUE;
      missing.count += 1;
      continue;
    }
    const c = classes[classOf(x, cuts)];
    f.properties.fill = c.fill;
    c.min = Math.min(c.min, x);
    c.max = Math.max(c.max, x);
    c.count += 1;
  }
  const entries = classes.filter((c) => c.count > 0).map((c) => {
    const lo = fmt(c.min, format);
    const hi = fmt(c.max, format);
    return { ...c, label: lo === hi ? lo : `${lo} – ${hi}` };
  });
  return missing.count ? [...entries, missing] : entries;
}

// ---- the API ------------------------------------------------------------------------------

async function graphql(query, variables = {}) {
  const r = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...auth },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json().catch(() => ({ errors: [{ message: `HTTP ${r.status}` }] }));
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data;
}

function fetchAreas(zoom) {
  const key = `${state.level}|${state.from}|${state.to}|${zoom}`;
  if (!cache.has(key)) {
    const variables = { level: state.level, period: { from: state.from, to: state.to }, zoom };
    const request = graphql(MAP_QUERY, variables).then((d) => d.coverageMap);
    request.catch(() => cache.delete(key));
    cache.set(key, request);
  }
  return cache.get(key);
}

// TileJSON keeps the period in the tile URLs it lists.
function tileJsonUrl() {
  const q = new URLSearchParams({ from: state.from, to: state.to });
  return `${location.origin}/tiles/activities.json?${q}`;
}

// ---- the map ------------------------------------------------------------------------------

// Keep the city clear of the panel that floats over the map on a wide screen.
function viewPadding() {
  if (window.matchMedia("(max-width: 640px)").matches) return 10;
  const left = Math.round($("panel").getBoundingClientRect().right) + 10;
  return { top: 20, right: 50, bottom: 20, left };
}

initControls();
state.tiles = tileJsonUrl();
const map = new maplibregl.Map({
  container: "map",
  bounds: CITY_BOUNDS,
  fitBoundsOptions: { padding: viewPadding() },
  hash: true,  // the view (#zoom/lat/lon) joins the controls (?level=…) in a shareable link
  minZoom: 9,
  maxZoom: 18,
  dragRotate: false,
  pitchWithRotate: false,
  touchPitch: false,
  attributionControl: false,
  // The token goes with TileJSON and tile requests to this app, and nowhere else.
  transformRequest: (url) => (token && url.startsWith(location.origin)
    ? { url, headers: auth } : { url }),
  style: {
    version: 8,
    sources: {
      areas: { type: "geojson", data: EMPTY, promoteId: "code" },
      ...(token ? { activities: { type: "vector", url: state.tiles } } : {}),
    },
    // No basemap: the page draws on a plain background and needs nothing from the internet.
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#dadee4" } },
      {
        id: "areas-fill", type: "fill", source: "areas",
        // Solid at city scale; paler once activity points are drawn over it.
        paint: {
          "fill-color": ["get", "fill"],
          "fill-opacity": ["interpolate", ["linear"], ["zoom"],
            POINTS_MINZOOM - 1, 1, POINTS_MINZOOM, 0.55],
        },
      },
      {
        id: "areas-line", type: "line", source: "areas",
        paint: {
          "line-color": ["case", ["boolean", ["feature-state", "selected"], false], "#000000",
            ["boolean", ["feature-state", "hover"], false], "#374151", "#ffffff"],
          "line-width": ["case", ["boolean", ["feature-state", "selected"], false], 3,
            ["boolean", ["feature-state", "hover"], false], 2, 0.6],
        },
      },
      ...(token ? [{
        id: "activities", type: "circle", source: "activities", "source-layer": "activities",
        minzoom: POINTS_MINZOOM,
        paint: {
          "circle-color": ["case", ["to-boolean", ["get", "outcomeMet"]], POINT_MET, POINT_UNMET],
          "circle-radius": ["interpolate", ["linear"], ["zoom"], POINTS_MINZOOM, 4, 17, 9],
          "circle-stroke-color": ["case", ["to-boolean", ["get", "outcomeMet"]], POINT_UNMET, POINT_MET],
          "circle-stroke-width": ["case", ["to-boolean", ["get", "outcomeMet"]], 1, 2],
        },
      }] : []),
    ],
  },
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl(), "bottom-right");

function zoomBand() {
  return Math.floor(map.getZoom());
}

function setFeatureState(code, key, value) {
  if (code != null) map.setFeatureState({ source: "areas", id: code }, { [key]: value });
}

async function load() {
  const seq = ++loadSeq;
  const zoom = zoomBand();
  setBusy(true);
  say(t("loading"));
  try {
    const data = await fetchAreas(zoom);
    if (seq !== loadSeq) return;
    state.data = data;
    state.zoom = zoom;
    showPoints();
    draw();
  } catch (err) {
    if (seq !== loadSeq) return;
    clear(err.message);
  }
}

// Points follow the period the server has just accepted, so a bad period asks for no tiles.
function showPoints() {
  if (!token) return;
  const url = tileJsonUrl();
  if (url !== state.tiles) {
    state.tiles = url;
    map.getSource("activities").setUrl(url);
  }
  map.setLayoutProperty("activities", "visibility", "visible");
}

// Nothing drawn is better than the last period's figures under this period's dates.
function clear(reason) {
  state.data = null;
  state.zoom = null;
  map.getSource("areas").setData(EMPTY);
  if (token) map.setLayoutProperty("activities", "visibility", "none");
  $("legend-title").textContent = "";
  $("legend-classes").replaceChildren();
  renderDetails();
  say(`${t("failed")}: ${reason}`, true);
  setBusy(false);
}

function draw() {
  const seq = ++drawSeq;
  setBusy(true);
  const entries = classify(state.data.features, state.metric);
  map.getSource("areas").setData(state.data);
  if (state.selected) setFeatureState(state.selected, "selected", true);
  renderLegend(entries);
  renderDetails();
  say(t("areas_count", { n: state.data.features.length, from: state.from, to: state.to }));
  map.once("idle", () => {
    if (seq === drawSeq) setBusy(false);
  });
}

// ---- the panel ----------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
}

function setBusy(busy) {
  $("map").setAttribute("aria-busy", String(busy));
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function renderLegend(entries) {
  $("legend-title").textContent = t(`metric_${state.metric}`);
  $("legend-classes").replaceChildren(...entries.map((e) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = e.fill;
    return el("li", {}, swatch, el("span", { className: "range", textContent: e.label }),
      el("span", { className: "count", textContent: `(${e.count})` }));
  }));
  renderPointsLegend();
}

function renderPointsLegend() {
  const hint = $("points-hint");
  if (!token) {
    hint.replaceChildren(t("points_need_token"));
    return;
  }
  if (map.getZoom() < POINTS_MINZOOM) {
    hint.replaceChildren(t("points_hint", { z: POINTS_MINZOOM }));
    return;
  }
  const dot = (kind, label) => el("span", { className: "point-key" },
    el("span", { className: `dot ${kind}` }), label);
  hint.replaceChildren(dot("met", t("points_met")), dot("unmet", t("points_unmet")));
}

function feature(code) {
  return state.data?.features.find((f) => f.properties.code === code) ?? null;
}

function renderDetails() {
  const box = $("details");
  const f = state.selected && feature(state.selected);
  if (!f) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const p = f.properties;
  const rows = [
    ["activities", fmt(p.activities, "int")],
    ["citizens_served", fmt(p.citizensServed, "int")],
    ["distinct_staff", fmt(p.distinctStaff, "int")],
    ["outcomes_met", fmt(p.outcomesMet, "int")],
    ["outcome_rate", fmt(p.outcomeRate, "percent")],
    ["per_km2", fmt(p.activitiesPerKm2, "decimal")],
    ["area_km2", `${fmt(p.areaKm2, "decimal")} km²`],
    ["last_activity", fmtTime(p.lastActivityAt)],
  ];
  const figures = el("dl", { className: "figures" });
  for (const [key, value] of rows) {
    const dd = el("dd", { textContent: value });
    dd.dataset.key = key;
    figures.append(el("dt", { textContent: t(key) }), dd);
  }
  const close = el("button", {
    type: "button", className: "close", textContent: "×", title: t("close"),
  });
  close.setAttribute("aria-label", t("close"));
  close.addEventListener("click", () => select(null));
  box.replaceChildren(
    el("header", {}, el("h2", { textContent: p.name }), close),
    el("p", { className: "sub", textContent: `${t(p.level)} · ${t("code")} ${p.code}` }),
    figures,
    el("h3", { textContent: t("attainment") }),
    attainmentTable(p.attainment ?? []),
  );
  box.hidden = false;
}

function attainmentTable(rows) {
  if (!rows.length) return el("p", { className: "hint", textContent: t("no_targets") });
  const head = el("tr", {}, ...["indicator", "target", "actual", "ratio"].map(
    (k) => el("th", { scope: "col", textContent: t(k) })));
  const body = rows.map((a) => el("tr", { className: a.met ? "met" : "unmet" },
    el("th", { scope: "row", textContent: state.names.indicators.get(a.indicator) ?? a.indicator }),
    el("td", { textContent: fmt(a.target, "decimal") }),
    el("td", { textContent: fmt(a.actual, "int") }),
    el("td", {
      textContent: `${fmt(a.ratio, "percent")} ${a.met ? "✓" : "✗"}`,
      title: t(a.met ? "met" : "not_met"),
    })));
  return el("table", { className: "attainment" }, el("thead", {}, head), el("tbody", {}, ...body));
}

function select(code) {
  setFeatureState(state.selected, "selected", false);
  state.selected = code;
  setFeatureState(code, "selected", true);
  renderDetails();
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  $("map").setAttribute("aria-label", t("map"));
  $("lang").textContent = t("lang_switch");
  $("lang").lang = state.lang === "id" ? "en" : "id";
  renderCollapse();
  renderPointsLegend();
  if (state.data) {
    renderLegend(classify(state.data.features, state.metric));
    renderDetails();
    say(t("areas_count", { n: state.data.features.length, from: state.from, to: state.to }));
  }
}

function renderCollapse() {
  const open = !$("panel-body").hidden;
  $("collapse").textContent = t(open ? "hide" : "show");
  $("collapse").setAttribute("aria-expanded", String(open));
}

// ---- state in the address bar, so a view can be shared as a link -------------------------

function readControls() {
  const form = $("controls");
  state.level = form.elements.level.value;
  state.metric = form.elements.metric.value;
  state.from = form.elements.from.value;
  state.to = form.elements.to.value;
  const q = new URLSearchParams({
    level: state.level, metric: state.metric, from: state.from, to: state.to,
  });
  history.replaceState(null, "", `?${q}${location.hash}`);
}

function initControls() {
  const q = new URLSearchParams(location.search);
  const today = todayWib();
  const form = $("controls");
  const level = q.get("level") === "KECAMATAN" ? "KECAMATAN" : "KELURAHAN";
  form.querySelector(`input[name=level][value=${level}]`).checked = true;
  form.elements.metric.value = METRICS[q.get("metric")] ? q.get("metric") : "activities";
  const isDate = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s ?? "");
  form.elements.to.value = isDate(q.get("to")) ? q.get("to") : today;
  form.elements.from.value = isDate(q.get("from")) ? q.get("from") : addDays(today, -29);
  readControls();
}

function onControlsChange() {
  const before = { level: state.level, from: state.from, to: state.to };
  readControls();
  if (before.level === state.level && before.from === state.from && before.to === state.to) {
    if (state.data) draw();
    return;
  }
  cache.clear();
  if (before.level !== state.level) select(null);
  if (!state.from || !state.to || state.from > state.to) {
    loadSeq += 1;  // a load still on its way is for other dates
    clear(`${t("from")} > ${t("to")}`);
    return;
  }
  load();
}

// ---- events -------------------------------------------------------------------------------

function showTooltip(e, f) {
  const tip = $("tooltip");
  const { format } = METRICS[state.metric];
  const value = fmt(f.properties[state.metric], format);
  tip.replaceChildren(el("strong", { textContent: f.properties.name }),
    el("span", { textContent: `${t(`metric_${state.metric}`)}: ${value}` }));
  tip.style.left = `${e.point.x + 14}px`;
  tip.style.top = `${e.point.y + 14}px`;
  tip.hidden = false;
}

map.on("mousemove", "areas-fill", (e) => {
  const f = e.features[0];
  if (state.hovered !== f.properties.code) {
    setFeatureState(state.hovered, "hover", false);
    state.hovered = f.properties.code;
    setFeatureState(state.hovered, "hover", true);
  }
  map.getCanvas().style.cursor = "pointer";
  showTooltip(e, feature(state.hovered) ?? f);
});

map.on("mouseleave", "areas-fill", () => {
  setFeatureState(state.hovered, "hover", false);
  state.hovered = null;
  map.getCanvas().style.cursor = "";
  $("tooltip").hidden = true;
});

map.on("click", (e) => {
  const point = token && map.queryRenderedFeatures(e.point, { layers: ["activities"] })[0];
  if (point) {
    showActivity(point);
    return;
  }
  const area = map.queryRenderedFeatures(e.point, { layers: ["areas-fill"] })[0];
  select(area ? area.properties.code : null);
});

function showActivity(f) {
  const p = f.properties;
  const body = el("dl", { className: "figures" },
    el("dt", { textContent: t("category") }),
    el("dd", { textContent: state.names.categories.get(p.category) ?? p.category }),
    el("dt", { textContent: t("citizens_served") }),
    el("dd", { textContent: fmt(p.citizensServed, "int") }),
    el("dt", { textContent: t("outcome") }),
    el("dd", { textContent: t(p.outcomeMet ? "met" : "not_met") }));
  new maplibregl.Popup({ maxWidth: "260px" })
    .setLngLat(f.geometry.coordinates).setDOMContent(body).addTo(map);
}

map.on("moveend", () => {
  renderPointsLegend();
  if (state.data && zoomBand() !== state.zoom) load();
});

$("controls").addEventListener("change", onControlsChange);
$("controls").addEventListener("submit", (e) => e.preventDefault());
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "id" ? "en" : "id";
  localStorage.setItem("jangkau.lang", state.lang);
  applyLanguage();
});
$("token").value = token;
$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
$("collapse").addEventListener("click", () => {
  $("panel-body").hidden = !$("panel-body").hidden;
  renderCollapse();
});

async function loadNames() {
  if (!token) return;  // reference lists need a token; without names the codes are shown
  try {
    const d = await graphql(NAMES_QUERY);
    state.names.indicators = new Map(d.indicators.map((i) => [i.code, i.name]));
    state.names.categories = new Map(d.serviceCategories.map((c) => [c.code, c.name]));
    renderDetails();
  } catch {
    // Names are a nicety: without them the codes are shown.
  }
}

applyLanguage();
map.on("load", () => {
  loadNames();
  load();
});

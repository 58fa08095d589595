// The map page. One GraphQL call (coverageMap) gives every area of the level with its figures,
// ready to draw; one more (reference lists) names the areas, units, services and indicators for
// the labels, the search and the filters; Jangkau's vector tiles give the activity points once
// zoomed in. Nothing is fetched from anywhere but this app. The figures stay live
// (coverageChanged over SSE, live.js); a supervisor also gets a team tab and team downloads.
//
// An access token (a bearer JWT) pasted into the panel is kept for this tab only and sent with
// every request. Without one the page shows what the server makes public
// (JANGKAU_PUBLIC_LEVEL): the choropleth, never the points.
import { ApiError, QUERIES, hasTrend, makeClient, trendQuery } from "./api.js";
import { METRICS, total } from "./breaks.js";
import { PRESETS, formatPeriod, presetOf, presetPeriod, wibDay } from "./fmt.js";
import { EMPTY, POINTS_MINZOOM, labelFeatures, labelFilter, mapStyle } from "./layers.js";
import {
  $, activityPopup, clearLegend, el, feature, fmt, legendEntries, renderDetails, renderFilters,
  renderLegend, renderNoData, renderPointsLegend, renderSearchResults, say, sayAreas, sayError,
  setBusy, t,
} from "./panel.js";
import { download, exportUrl } from "./download.js";
import { LIVE_QUERY, mergeFigures, subscribe } from "./live.js";
import { errorText } from "./i18n.js";
import { findAreas } from "./search.js";
import { TEAM_QUERY, canSeeTeam, teamRows, tokenClaims } from "./team.js";
import { renderStaffChip, renderTeam } from "./teamview.js";
import { bucketFor, previousPeriod } from "./trend.js";
import {
  activityFilter, initControls, readControls, saveLanguage, saveToken, state, token,
} from "./state.js";

const maplibregl = window.maplibregl;
const api = makeClient(token);
// Kota Surabaya (35.78): the first view, so the first request already asks for the right zoom.
const CITY_BOUNDS = [[112.59, -7.352], [112.847, -7.192]];
const cache = new Map();
let loadSeq = 0;
let drawSeq = 0;
let trendSeq = 0;
let trendReady = null;  // resolves to whether the server has the trend's fields
let teamSeq = 0;
const claims = token ? tokenClaims(token) : null;
const withTeam = canSeeTeam(claims);
const live = { key: null, close: null, at: 0 };  // the open subscription, the last change
const LIVE_FRESH_MS = 60_000;  // tiles may be cached a minute: revalidate them after a change

// TileJSON keeps the period and filters in the tile URLs it lists.
function tileJsonUrl() {
  const q = new URLSearchParams({ from: state.from, to: state.to, ...activityFilter() });
  if (state.staff) q.set("staffId", state.staff.id);
  return `${location.origin}/tiles/activities.json?${q}`;
}

function filterKey() {
  return `${state.level}|${state.from}|${state.to}|${state.unit}|${state.category}`;
}

function fetchAreas(zoom) {
  const key = `${filterKey()}|${zoom}`;
  if (!cache.has(key)) {
    const variables = {
      level: state.level, period: { from: state.from, to: state.to }, filter: activityFilter(),
      zoom,
    };
    const request = api.graphql(QUERIES.map, variables).then((d) => d.coverageMap);
    request.catch(() => cache.delete(key));
    cache.set(key, request);
  }
  return cache.get(key);
}

// Keep the city clear of the panel that floats over the map on a wide screen.
function viewPadding() {
  if (window.matchMedia("(max-width: 640px)").matches) return 10;
  const left = Math.round($("panel").getBoundingClientRect().right) + 10;
  return { top: 20, right: 50, bottom: 20, left };
}

renderPeriodPresets();
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
  // After a live change, tiles are revalidated (ETag) instead of read from the browser's cache.
  transformRequest: (url) => {
    if (!url.startsWith(`${location.origin}/tiles/`)) return { url };
    const fresh = Date.now() - live.at < LIVE_FRESH_MS ? { cache: "no-cache" } : {};
    return { url, headers: api.auth, ...fresh };
  },
  style: mapStyle({
    origin: location.origin, tiles: state.tiles, withPoints: Boolean(token), level: state.level,
  }),
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl(), "bottom-right");

const zoomBand = () => Math.floor(map.getZoom());

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
    follow();
    if (total(data.features, "activities") === 0) await loadLastDay(seq);
    if (seq !== loadSeq) return;
    draw();
  } catch (err) {
    if (seq !== loadSeq) return;
    clear(err);
  }
}

// The newest activity's day for these filters, asked once per filter when a period is empty.
async function loadLastDay(seq) {
  const key = `${state.unit}|${state.category}`;
  if (state.lastDayKey === key) return;
  try {
    const d = await api.graphql(QUERIES.lastDay, { filter: activityFilter() });
    if (seq !== loadSeq) return;
    state.lastDay = d.lastActivityDate;
    state.lastDayKey = key;
  } catch {
    state.lastDay = undefined;  // no offer then, the empty period is still said
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
function clear(err) {
  unfollow();
  state.error = err;
  state.data = null;
  state.zoom = null;
  map.getSource("areas").setData(EMPTY);
  if (token) map.setLayoutProperty("activities", "visibility", "none");
  clearLegend();
  renderNoData(false);
  renderDetails(() => select(null));
  sayError(err);
  setBusy(false);
}

function draw() {
  const seq = ++drawSeq;
  state.error = null;
  setBusy(true);
  const entries = legendEntries();
  map.getSource("areas").setData(state.data);
  if (state.selected) setFeatureState(state.selected, "selected", true);
  renderPanel(entries);
  loadTrend();
  map.once("idle", () => {
    if (seq === drawSeq) setBusy(false);
  });
}

function renderPanel(entries = legendEntries()) {
  const empty = total(state.data.features, "activities") === 0;
  if (empty && state.lastDay !== undefined) clearLegend();
  else renderLegend(entries);
  renderNoData(empty, showPeriod);
  renderPointsLegend(map.getZoom());
  renderDetails(() => select(null));
  renderDownloads();
  sayAreas();
}

function showPeriod(period) {
  const { elements } = $("controls");
  elements.from.value = period.from;
  elements.to.value = period.to;
  onControlsChange();
}

function select(code) {
  setFeatureState(state.selected, "selected", false);
  state.selected = code;
  setFeatureState(code, "selected", true);
  renderDetails(() => select(null));
  loadTrend();
}

// The selected area's sparkline and change against the previous period (issue 10's
// coverageSeries and coverage(compareTo)), drawn into its details once they arrive.
async function loadTrend() {
  const code = state.selected;
  const key = `${code}|${filterKey()}`;
  if (state.trend?.key === key) return;
  const seq = ++trendSeq;
  state.trend = null;
  if (!code || !state.data || !(await trendReady)) return;
  const variables = {
    filter: { ...activityFilter(), areaCode: code }, previous: previousPeriod(state.from, state.to),
  };
  try {
    const query = trendQuery(state.level, state.from, state.to, bucketFor(state.from, state.to));
    const d = await api.graphql(query, variables);
    const row = d.coverage.find((c) => c.area.code === code);
    const series = d.coverageSeries.find((s) => s.area.code === code);
    if (seq !== trendSeq || !row || !series) return;
    state.trend = {
      key, code, points: series.points, now: row.activities, before: row.previous.activities,
    };
    renderDetails(() => select(null));
  } catch {
    // The trend is a nicety: the area's figures stand without it.
  }
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  $("map").setAttribute("aria-label", t("map"));
  $("lang").textContent = t("lang_switch");
  $("lang").lang = state.lang === "id" ? "en" : "id";
  renderCollapse();
  renderPointsLegend(map.getZoom());
  renderPeriodText();
  if (state.names.units.length) renderFilters();
  if (state.data) renderPanel();
  else if (state.error) sayError(state.error);
  renderDownloads();
  renderStaffChip(() => pickStaff(null));
  if (state.team.key) drawTeam();
  onSearch();
}

function renderCollapse() {
  const open = !$("panel-body").hidden;
  $("collapse").textContent = t(open ? "hide" : "show");
  $("collapse").setAttribute("aria-expanded", String(open));
}

// ---- controls ------------------------------------------------------------------------------

function renderPeriodPresets() {
  const select = $("preset");
  select.replaceChildren(...[...PRESETS, "custom"].map((p) => {
    const o = el("option", { value: p });
    o.dataset.i18n = p;
    return o;
  }));
}

function renderPeriodText() {
  $("preset").value = presetOf(state.from, state.to, wibDay());
  $("period-text").textContent = state.from && state.to && state.from <= state.to
    ? formatPeriod(state.from, state.to, state.lang) : "";
}

function onPreset() {
  const period = presetPeriod($("preset").value, wibDay());
  if (period) showPeriod(period);
}

function onControlsChange(e) {
  if (e?.target?.id === "preset" || e?.target?.id === "search") return;
  const before = filterKey();
  const level = state.level;
  if (e?.target?.id === "unit") renderFilters();
  readControls();
  renderPeriodText();
  renderDownloads();
  loadTeam();
  if (before === filterKey()) {
    if (state.data) draw();
    return;
  }
  cache.clear();
  if (level !== state.level) {
    select(null);
    map.setFilter("labels", labelFilter(state.level));
  }
  if (!state.from || !state.to || state.from > state.to) {
    loadSeq += 1;  // a load still on its way is for other dates
    clear(new ApiError("BAD_PERIOD", `${state.from} > ${state.to}`));
    return;
  }
  load();
}

// ---- live: coverageChanged for what is shown -------------------------------------------------

function follow() {
  const key = filterKey();
  if (live.key === key) return;
  unfollow();
  live.key = key;
  live.close = subscribe({
    query: LIVE_QUERY, auth: api.auth,
    variables: {
      level: state.level, period: { from: state.from, to: state.to }, filter: activityFilter(),
    },
    onNext: (d) => onLive(d.coverageChanged),
    onEnd: (err) => {
      live.key = null;
      live.close = null;
      // Told to resync (or cut off): read the figures again, which subscribes again.
      if (!err || ["RESYNC_REQUIRED", "NETWORK"].includes(err.code)) {
        setTimeout(() => { if (state.data && !live.key) { cache.clear(); load(); } }, 3000);
      }
    },
  });
}

function unfollow() {
  live.close?.();
  live.key = null;
  live.close = null;
}

function onLive(rows) {
  if (!state.data || !mergeFigures(state.data.features, rows).length) return;
  live.at = Date.now();
  // The other zoom levels' copies are older now.
  cache.clear();
  cache.set(`${filterKey()}|${state.zoom}`, Promise.resolve(state.data));
  if (state.trend && rows.some((r) => r.area.code === state.trend.code)) state.trend = null;
  draw();
  if (token && map.getZoom() >= POINTS_MINZOOM) map.getSource("activities").setUrl(state.tiles);
}

// ---- downloads and the team tab --------------------------------------------------------------

const teamUnit = () => state.unit || claims?.unit || "";

function renderDownloads() {
  const period = { from: state.from, to: state.to, lang: state.lang };
  for (const button of document.querySelectorAll("#downloads button")) {
    const { table, format } = button.dataset;
    button.dataset.url = table === "team"
      ? exportUrl("team", format, { unitCode: teamUnit(), ...period })
      : exportUrl("coverage", format, { level: state.level, ...period, ...activityFilter() });
  }
  $("dl-team").hidden = !withTeam || !teamUnit();
}

async function onDownload(e) {
  const button = e.target.closest("button[data-url]");
  if (!button) return;
  button.disabled = true;
  try {
    await download(button.dataset.url, api.auth);
  } catch (err) {
    sayError(err);
  } finally {
    button.disabled = false;
  }
}

function showTab(team) {
  $("panel-body").classList.toggle("team-open", team);
  $("tab-map").setAttribute("aria-selected", String(!team));
  $("tab-team").setAttribute("aria-selected", String(team));
  if (team) loadTeam();
}

// `note()` words the team's state in the page's language (again on a language switch).
function drawTeam(note = state.team.note) {
  state.team.note = note;
  renderTeam({ ...state.team, unit: teamUnit(), message: note() }, (key) => {
    const { sort } = state.team;
    state.team.sort = { key, descending: sort.key === key ? !sort.descending : key !== "name" };
    drawTeam();
  }, pickStaff);
}

async function loadTeam() {
  const unitCode = teamUnit();
  const key = `${unitCode}|${filterKey()}`;
  if (!$("panel-body").classList.contains("team-open") || state.team.key === key) return;
  const seq = ++teamSeq;
  state.team.key = key;
  state.team.rows = null;
  if (!unitCode) return drawTeam(() => t("team_choose_unit"));
  drawTeam(() => t("loading"));
  try {
    const filter = state.category ? { category: state.category } : null;
    const d = await api.graphql(TEAM_QUERY, {
      unitCode, period: { from: state.from, to: state.to }, filter,
    });
    if (seq !== teamSeq) return;
    state.team.rows = teamRows(d.team);
    drawTeam(() => (state.team.rows.length ? "" : t("team_empty")));
  } catch (err) {
    if (seq !== teamSeq) return;
    state.team.key = null;
    drawTeam(() => errorText(err.code, t));
  }
}

// A person's points on the map, with a chip that says so and clears it.
function pickStaff(row) {
  state.staff = row ? { id: row.id, name: row.name } : null;
  renderStaffChip(() => pickStaff(null));
  showPoints();
  if (row) showTab(false);
}

// ---- search ---------------------------------------------------------------------------------

function onSearch() {
  const query = $("search").value;
  renderSearchResults(findAreas(state.areas.filter((a) => a.level !== "CITY"), query), query,
    flyToArea);
}

function flyToArea(area) {
  const [lon, lat] = area.labelPoint.coordinates;
  $("search").value = "";
  onSearch();
  if (area.level === state.level) select(area.code);
  map.flyTo({ center: [lon, lat], zoom: area.level === "KELURAHAN" ? 14 : 12.5, duration: 800 });
}

// ---- events ---------------------------------------------------------------------------------

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
    new maplibregl.Popup({ maxWidth: "260px" })
      .setLngLat(point.geometry.coordinates).setDOMContent(activityPopup(point.properties))
      .addTo(map);
    return;
  }
  const area = map.queryRenderedFeatures(e.point, { layers: ["areas-fill"] })[0];
  select(area ? area.properties.code : null);
});

map.on("moveend", () => {
  renderPointsLegend(map.getZoom());
  if (state.data && zoomBand() !== state.zoom) load();
});

$("controls").addEventListener("change", onControlsChange);
$("controls").addEventListener("submit", (e) => e.preventDefault());
$("preset").addEventListener("change", onPreset);
$("search").addEventListener("input", onSearch);
$("search").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  const first = findAreas(state.areas.filter((a) => a.level !== "CITY"), $("search").value)[0];
  if (first) flyToArea(first);
});
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "id" ? "en" : "id";
  saveLanguage();
  applyLanguage();
});
$("token").value = token;
$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  saveToken($("token").value.trim());
  location.reload();
});
$("downloads").addEventListener("click", onDownload);
$("tab-map").addEventListener("click", () => showTab(false));
$("tab-team").addEventListener("click", () => showTab(true));
$("tabs").hidden = !withTeam;
$("collapse").addEventListener("click", () => {
  $("panel-body").hidden = !$("panel-body").hidden;
  renderCollapse();
});

// Names for labels, search and filters. Without them the map still works, with codes.
async function loadReference() {
  try {
    const d = await api.graphql(QUERIES.reference);
    state.areas = d.areas;
    state.names.indicators = new Map(d.indicators.map((i) => [i.code, i.name]));
    state.names.categories = new Map(d.serviceCategories.map((c) => [c.code, c.name]));
    state.names.categoryUnits = new Map(d.serviceCategories.map((c) => [c.code, c.unitCode]));
    state.names.units = [...d.units].sort((a, b) => a.name.localeCompare(b.name));
    map.getSource("labels").setData(labelFeatures(d.areas));
    renderFilters();
    readControls();
    if (state.data) renderDetails(() => select(null));
  } catch {
    // Names are a nicety: without them the codes are shown.
  }
}

applyLanguage();
trendReady = api.graphql(QUERIES.capabilities).then(hasTrend, () => false);
map.on("load", () => {
  loadReference();
  load();
});

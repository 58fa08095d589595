// The panel beside the map: status, legend, an area's details, search results and filter
// choices, in the page's language.
import { METRICS, NO_VALUE, classify } from "./breaks.js";
import { formatDate, formatNumber, formatPeriod, formatTime, periodEndingOn } from "./fmt.js";
import { errorText, translator } from "./i18n.js";
import { POINTS_MINZOOM } from "./layers.js";
import { state, token } from "./state.js";
import { change, previousPeriod, sparkPath } from "./trend.js";

export const $ = (id) => document.getElementById(id);
export const t = (key, vars) => translator(state.lang)(key, vars);
export const fmt = (x, format) => formatNumber(x, format, state.lang);

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
}

export function setBusy(busy) {
  $("map").setAttribute("aria-busy", String(busy));
}

export function say(text, error = false) {
  $("status").replaceChildren(text);
  $("status").classList.toggle("error", error);
}

// A refusal from the server (an ApiError) or the page's own, in the page's language.
export function sayError(err) {
  say(errorText(err.code, t), true);
  $("status").title = err.message ?? "";
}

export function periodText() {
  return formatPeriod(state.from, state.to, state.lang);
}

export function sayAreas() {
  say(t("areas_count", { n: state.data.features.length, period: periodText() }));
  $("status").title = "";
}

export function legendEntries() {
  const { format } = METRICS[state.metric];
  return classify(state.data.features, state.metric, (x) => fmt(x, format), t("no_value"));
}

export function renderLegend(entries) {
  $("legend-title").textContent = t(`metric_${state.metric}`);
  $("legend-classes").replaceChildren(...entries.map((e) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = e.fill ?? NO_VALUE;
    return el("li", {}, swatch, el("span", { className: "range", textContent: e.label }),
      el("span", { className: "count", textContent: `(${e.count})` }));
  }));
}

export function clearLegend() {
  $("legend-title").textContent = "";
  $("legend-classes").replaceChildren();
}

// A period without activity: say so instead of a legend of zeros, and offer the last period
// of the same length that has some (`show(period)` switches to it).
export function renderNoData(empty, show) {
  const box = $("no-data");
  if (!empty || state.lastDay === undefined) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const parts = [el("p", { textContent: t("no_activity", { period: periodText() }) })];
  if (state.lastDay === null) {
    parts.push(el("p", { className: "hint", textContent: t("no_activity_ever") }));
  } else if (state.lastDay < state.from || state.lastDay > state.to) {
    // A last day inside the period was outside every area of the map: nothing to offer then.
    const period = periodEndingOn(state.lastDay, state.from, state.to);
    const button = el("button", {
      type: "button", id: "show-last",
      textContent: t("show_period", { period: formatPeriod(period.from, period.to, state.lang) }),
    });
    button.addEventListener("click", () => show(period));
    parts.push(el("p", { textContent: t("last_activity_on", {
      day: formatDate(state.lastDay, state.lang) }) }), button);
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

export function renderPointsLegend(zoom) {
  const hint = $("points-hint");
  if (!token) {
    hint.replaceChildren(t("points_need_token"));
    return;
  }
  if (zoom < POINTS_MINZOOM) {
    hint.replaceChildren(t("points_hint", { z: POINTS_MINZOOM }));
    return;
  }
  const dot = (kind, label) => el("span", { className: "point-key" },
    el("span", { className: `dot ${kind}` }), label);
  hint.replaceChildren(dot("met", t("points_met")), dot("unmet", t("points_unmet")));
}

export function feature(code) {
  return state.data?.features.find((f) => f.properties.code === code) ?? null;
}

export function renderDetails(onClose) {
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
    ["last_activity", formatTime(p.lastActivityAt, state.lang)],
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
  close.addEventListener("click", onClose);
  box.replaceChildren(
    el("header", {}, el("h2", { textContent: p.name }), close),
    el("p", { className: "sub", textContent: `${t(p.level)} · ${t("code")} ${p.code}` }),
    figures,
    trendSection(p.code),
    el("h3", { textContent: t("attainment") }),
    attainmentTable(p.attainment ?? []),
  );
  box.hidden = false;
}

// The activities of the period as a sparkline, and their change against the previous period
// of the same length; nothing until the server has coverageSeries and compareTo.
function trendSection(code) {
  const trend = state.trend;
  if (trend?.code !== code) return null;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", "0 0 200 36");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("trend"));
  const path = document.createElementNS(svgNs, "path");
  path.setAttribute("d", sparkPath(trend.points.map((x) => x.activities), 200, 34));
  path.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(path);
  const { delta, ratio } = change(trend.now, trend.before);
  const before = previousPeriod(state.from, state.to);
  const sign = delta > 0 ? "+" : "";
  const text = t("change", {
    delta: `${sign}${fmt(delta, "int")}`,
    ratio: ratio == null ? "" : ` (${sign}${fmt(ratio, "percent")})`,
    period: formatPeriod(before.from, before.to, state.lang),
  });
  return el("section", { className: "trend" }, svg,
    el("p", { className: "hint change", textContent: text }));
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

export function activityPopup(p) {
  return el("dl", { className: "figures" },
    el("dt", { textContent: t("category") }),
    el("dd", { textContent: state.names.categories.get(p.category) ?? p.category }),
    el("dt", { textContent: t("citizens_served") }),
    el("dd", { textContent: fmt(p.citizensServed, "int") }),
    el("dt", { textContent: t("outcome") }),
    el("dd", { textContent: t(p.outcomeMet ? "met" : "not_met") }));
}

// The unit and category choices; categories follow the unit chosen (a unit's own services).
export function renderFilters() {
  const unit = $("unit");
  const category = $("category");
  const keep = (select) => select.value || select.dataset.wanted || "";
  const [u, c] = [keep(unit), keep(category)];
  const option = (value, label) => el("option", { value, textContent: label });
  unit.replaceChildren(option("", t("all_units")),
    ...state.names.units.map((x) => option(x.code, x.name)));
  const categories = [...state.names.categories.entries()]
    .filter(([code]) => !u || state.names.categoryUnits.get(code) === u);
  category.replaceChildren(option("", t("all_categories")),
    ...categories.map(([code, name]) => option(code, name)));
  unit.value = [...unit.options].some((o) => o.value === u) ? u : "";
  category.value = [...category.options].some((o) => o.value === c) ? c : "";
  delete unit.dataset.wanted;
  delete category.dataset.wanted;
}

export function renderSearchResults(found, query, pick) {
  const list = $("search-results");
  if (!query.trim()) {
    list.replaceChildren();
    list.hidden = true;
    return;
  }
  list.replaceChildren(...(found.length ? found.map((a) => {
    const button = el("button", { type: "button" },
      el("span", { className: "name", textContent: a.name }),
      el("span", { className: "sub", textContent: `${t(a.level)} · ${a.code}` }));
    button.dataset.code = a.code;
    button.addEventListener("click", () => pick(a));
    return el("li", {}, button);
  }) : [el("li", { className: "hint", textContent: t("search_none", { q: query.trim() }) })]));
  list.hidden = false;
}

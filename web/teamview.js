// The team tab's table (click a header to sort) and the chip of the person whose points show.
import { $, el, fmt, t } from "./panel.js";
import { TEAM_COLUMNS, sortRows } from "./team.js";
import { state } from "./state.js";

const FORMATS = { activities: "int", citizensServed: "int", outcomesMet: "int",
  outcomeRate: "percent", fieldDays: "int", fieldShare: "percent", flaggedShare: "percent" };

// `view`: {unit, rows, sort: {key, descending}, message}; onSort(key), onPick(row).
export function renderTeam(view, onSort, onPick) {
  $("team-title").textContent = view.unit
    ? t("team_of", { unit: unitName(view.unit) }) : t("tab_team");
  $("team-status").textContent = view.message ?? "";
  const table = $("team-table");
  if (!view.rows) {
    table.replaceChildren();
    return;
  }
  const { key, descending } = view.sort;
  const head = el("tr", {}, ...TEAM_COLUMNS.map((c) => {
    const button = el("button", { type: "button", textContent: t(`col_${c}`) });
    button.dataset.sort = c;
    button.addEventListener("click", () => onSort(c));
    const th = el("th", { scope: "col" }, button);
    th.setAttribute("aria-sort", c === key ? (descending ? "descending" : "ascending") : "none");
    return th;
  }));
  const body = sortRows(view.rows, key, descending, state.lang).map((r) => {
    const link = el("button", { type: "button", className: "person", textContent: r.name });
    link.dataset.staff = r.id;
    link.addEventListener("click", () => onPick(r));
    return el("tr", {}, el("th", { scope: "row" }, link),
      ...TEAM_COLUMNS.slice(1).map((c) => el("td", { textContent: fmt(r[c], FORMATS[c]) })));
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

function unitName(code) {
  return state.names.units.find((u) => u.code === code)?.name ?? code;
}

// "Showing <name>'s activities ×" while the points are one person's.
export function renderStaffChip(onClear) {
  const chip = $("staff-chip");
  if (!state.staff) {
    chip.hidden = true;
    chip.replaceChildren();
    return;
  }
  const clear = el("button", { type: "button", className: "clear", textContent: t("clear") });
  clear.addEventListener("click", onClear);
  chip.replaceChildren(el("span", { textContent: t("showing_staff", { name: state.staff.name }) }),
    clear);
  chip.hidden = false;
}

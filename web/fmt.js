// Numbers and dates as the page's language writes them. Pure: no DOM, no state, so
// `node --test web/test/` checks them. Days are WIB (Asia/Jakarta) calendar days whatever the
// browser's own time zone; ISO dates ("2026-11-01") are such days already.

export const LOCALES = { id: "id-ID", en: "en-GB" };
const NONE = "—";
const WIB = "Asia/Jakarta";

const NUMBER_OPTIONS = {
  int: () => ({ maximumFractionDigits: 0 }),
  decimal: (x) => ({ maximumFractionDigits: Math.abs(x) < 10 ? 2 : 1 }),
  percent: () => ({ style: "percent", maximumFractionDigits: 0 }),
};

// 1234.5 as "1.234,5" in Bahasa Indonesia and "1,234.5" in English; null as a dash.
export function formatNumber(x, format, lang) {
  if (x == null || !Number.isFinite(x)) return NONE;
  return new Intl.NumberFormat(LOCALES[lang], NUMBER_OPTIONS[format](x)).format(x);
}

// A WIB day: "1 Nov 2026" (id: "1 Agu 2026", en: "1 Aug 2026").
export function formatDate(isoDate, lang) {
  if (!isoDate) return NONE;
  return new Intl.DateTimeFormat(LOCALES[lang], {
    day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  }).format(new Date(`${isoDate}T00:00:00Z`));
}

export function formatPeriod(from, to, lang) {
  return from === to ? formatDate(from, lang)
    : `${formatDate(from, lang)} – ${formatDate(to, lang)}`;
}

// An instant, in WIB whatever the browser's zone: "1 Nov 2026, 14.30 WIB".
export function formatTime(iso, lang) {
  if (!iso) return NONE;
  const d = new Date(iso);
  const time = new Intl.DateTimeFormat(LOCALES[lang], {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: WIB,
  }).format(d);
  return `${formatDate(wibDay(d), lang)}, ${time} WIB`;
}

// The WIB calendar day of an instant, as an ISO date.
export function wibDay(instant = new Date()) {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: WIB, year: "numeric", month: "2-digit", day: "2-digit",
  }).format(instant);
}

export function addDays(isoDate, n) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export const isIsoDate = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s ?? "")
  && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));

// The period picker's choices, as inclusive WIB days ending `today` (or the month before).
export const PRESETS = ["last7", "last30", "this_month", "last_month"];

export function presetPeriod(preset, today) {
  const monthStart = `${today.slice(0, 8)}01`;
  switch (preset) {
    case "last7": return { from: addDays(today, -6), to: today };
    case "last30": return { from: addDays(today, -29), to: today };
    case "this_month": return { from: monthStart, to: today };
    case "last_month": {
      const to = addDays(monthStart, -1);
      return { from: `${to.slice(0, 8)}01`, to };
    }
    default: return null;
  }
}

// Which preset a period is, or "custom".
export function presetOf(from, to, today) {
  return PRESETS.find((p) => {
    const q = presetPeriod(p, today);
    return q.from === from && q.to === to;
  }) ?? "custom";
}

// The same number of days as the period, ending on `day`: what a map with no activity in the
// chosen period offers instead.
export function periodEndingOn(day, from, to) {
  const days = Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
  return { from: addDays(day, -days), to: day };
}

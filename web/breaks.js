// Class breaks and colours of the choropleth. Pure, so node's test runner checks them.

export const NO_VALUE = "#c9cdd3";
export const CLASSES = 5;
export const METRICS = {
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

// Quantile breaks from the drawn values: class i holds values >= cuts[i-1] and < cuts[i].
// A minimum shared by many areas (typically 0: nobody went there) is a class of its own and
// the other values share the remaining classes; otherwise quantiles would lump "none" with
// "a few". Ties collapse, so few distinct values give fewer classes, never empty ones.
export function breaks(values, k) {
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

export function classOf(x, cuts) {
  return cuts.filter((c) => c <= x).length;
}

// Spread n classes over the metric's palette, light to dark.
export function colours(palette, n) {
  if (n === 1) return [palette[Math.floor(palette.length / 2)]];
  const step = (palette.length - 1) / (n - 1);
  return Array.from({ length: n }, (_, i) => palette[Math.round(i * step)]);
}

// Colour every feature (`properties.fill`) and describe each class for the legend:
// `format(x)` writes a value, `noValue` names the class of areas without one.
export function classify(features, metric, format, noValue) {
  const { palette } = METRICS[metric];
  const values = features.map((f) => f.properties[metric]).filter((x) => x != null);
  const cuts = breaks(values, CLASSES);
  const fills = colours(palette, cuts.length + 1);
  const classes = fills.map((fill) => ({ fill, min: Infinity, max: -Infinity, count: 0 }));
  const missing = { fill: NO_VALUE, label: noValue, count: 0 };
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
    const lo = format(c.min);
    const hi = format(c.max);
    return { ...c, label: lo === hi ? lo : `${lo} – ${hi}` };
  });
  return missing.count ? [...entries, missing] : entries;
}

// Sum of one figure over the features: 0 activities means an empty period.
export function total(features, key) {
  return features.reduce((n, f) => n + (f.properties[key] ?? 0), 0);
}

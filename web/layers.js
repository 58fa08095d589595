// The map's style: no basemap, only Jangkau's own data, and a font this app serves itself
// (Noto Sans glyphs from npm), so the page needs nothing from the internet.

export const POINTS_MINZOOM = 13;
// The one font stack graph/web.py serves; labels a shade darker than any fill.
const FONT = "Noto Sans Regular";
const LABEL_COLOUR = "#1c2b3a";
// Points read on every palette: solid dark where the outcome was met, a hollow ring where not.
const POINT_MET = "#111827";
const POINT_UNMET = "#ffffff";
export const EMPTY = { type: "FeatureCollection", features: [] };

const selectedOr = (selected, hovered, otherwise) => ["case",
  ["boolean", ["feature-state", "selected"], false], selected,
  ["boolean", ["feature-state", "hover"], false], hovered, otherwise];

export function mapStyle({ origin, tiles, withPoints, level }) {
  return {
    version: 8,
    glyphs: `${origin}/glyphs/{fontstack}/{range}.pbf`,
    sources: {
      areas: { type: "geojson", data: EMPTY, promoteId: "code" },
      labels: { type: "geojson", data: EMPTY },
      ...(withPoints ? { activities: { type: "vector", url: tiles } } : {}),
    },
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
          "line-color": selectedOr("#000000", "#374151", "#ffffff"),
          "line-width": selectedOr(3, 2, 0.6),
        },
      },
      ...(withPoints ? [{
        id: "activities", type: "circle", source: "activities", "source-layer": "activities",
        minzoom: POINTS_MINZOOM,
        paint: {
          "circle-color": ["case", ["to-boolean", ["get", "outcomeMet"]], POINT_MET, POINT_UNMET],
          "circle-radius": ["interpolate", ["linear"], ["zoom"], POINTS_MINZOOM, 4, 17, 9],
          "circle-stroke-color": ["case", ["to-boolean", ["get", "outcomeMet"]], POINT_UNMET, POINT_MET],
          "circle-stroke-width": ["case", ["to-boolean", ["get", "outcomeMet"]], 1, 2],
        },
      }] : []),
      {
        // Names at each area's label point; MapLibre drops those that would overlap.
        id: "labels", type: "symbol", source: "labels", filter: labelFilter(level),
        layout: {
          "text-field": ["get", "name"],
          "text-font": [FONT],
          "text-size": ["interpolate", ["linear"], ["zoom"], 10, 10, 14, 13],
          "text-max-width": 7,
          "text-padding": 3,
        },
        paint: { "text-color": LABEL_COLOUR, "text-halo-color": "#ffffff", "text-halo-width": 1.4 },
      },
    ],
  };
}

export function labelFilter(level) {
  return ["==", ["get", "level"], level];
}

// The label points as GeoJSON, from the reference list of areas.
export function labelFeatures(areas) {
  return {
    type: "FeatureCollection",
    features: areas.map((a) => ({
      type: "Feature", geometry: a.labelPoint,
      properties: { code: a.code, name: a.name, level: a.level },
    })),
  };
}

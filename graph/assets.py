"""The files served from `web/`: the pages' own and those npm vendored into web/node_modules.

One list for the routes (graph.web) and for the build (setup.py copies exactly these into the
wheel, as graph/webroot/), so an installed package serves the map and GraphiQL without a
checkout, a CDN or JANGKAU_WEB_DIR. Plain Python only: setup.py loads it before any dependency
is installed.
"""

from __future__ import annotations

from pathlib import Path

PAGE_FILES = ("index.html", "app.js", "api.js", "breaks.js", "fmt.js", "i18n.js", "layers.js",
              "panel.js", "search.js", "state.js", "style.css", "trend.js", "graphiql.js",
              "download.js", "live.js", "team.js", "teamview.js")
# /vendor/{package}/{name}: the directory under web/ and the files served from it (pinned by
# web/package-lock.json); the wheel carries each package's licence file too.
VENDOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "maplibre-gl": ("node_modules/maplibre-gl/dist",
                    ("maplibre-gl.js", "maplibre-gl.js.map", "maplibre-gl.css")),
    "graphiql": ("node_modules/graphiql", ("graphiql.min.js", "graphiql.min.css")),
    "react": ("node_modules/react/umd", ("react.production.min.js",)),
    "react-dom": ("node_modules/react-dom/umd", ("react-dom.production.min.js",)),
}
# The map's label font: Noto Sans (SIL OFL) as signed-distance-field PBFs, 256 code points a
# file, at /glyphs/{FONT}/{range}.pbf.
FONT = "Noto Sans Regular"
GLYPHS = f"node_modules/tileserver-gl-styles/fonts/{FONT}"
LICENCES = ("node_modules/maplibre-gl/LICENSE.txt", "node_modules/graphiql/LICENSE",
            "node_modules/react/LICENSE", "node_modules/react-dom/LICENSE",
            "node_modules/tileserver-gl-styles/LICENSE.md")
BUNDLED = Path(__file__).resolve().parent / "webroot"      # inside an installed package
CHECKOUT = Path(__file__).resolve().parent.parent / "web"  # beside the source


def bundle() -> list[str]:
    """Every file the wheel carries, as a path relative to `web/`."""
    files = list(PAGE_FILES)
    for directory, names in VENDOR.values():
        files += [f"{directory}/{name}" for name in names]
    files += sorted(f"{GLYPHS}/{p.name}" for p in (CHECKOUT / GLYPHS).glob("*.pbf"))
    return files + list(LICENCES)


def default_root() -> Path:
    """The installed package's own copy, else `web/` of the checkout."""
    return BUNDLED if BUNDLED.is_dir() else CHECKOUT

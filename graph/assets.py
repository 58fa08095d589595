"""The files served from `web/`: the pages' own and those npm vendored into web/node_modules.

One list for the routes (graph.web) and for the build (setup.py copies exactly these into the
wheel, as graph/webroot/), so an installed package serves the map and GraphiQL without a
checkout, a CDN or JANGKAU_WEB_DIR. Plain Python only: setup.py loads it before any dependency
is installed.
"""

from __future__ import annotations

from pathlib import Path

PAGE_FILES = ("index.html", "app.js", "i18n.js", "style.css", "graphiql.js")
# /vendor/{package}/{name}: the directory under web/ and the files served from it (pinned by
# web/package-lock.json); the wheel carries each package's licence file too.
VENDOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "maplibre-gl": ("node_modules/maplibre-gl/dist",
                    ("maplibre-gl.js", "maplibre-gl.js.map", "maplibre-gl.css")),
    "graphiql": ("node_modules/graphiql", ("graphiql.min.js", "graphiql.min.css")),
    "react": ("node_modules/react/umd", ("react.production.min.js",)),
    "react-dom": ("node_modules/react-dom/umd", ("react-dom.production.min.js",)),
}
LICENCES = ("node_modules/maplibre-gl/LICENSE.txt", "node_modules/graphiql/LICENSE",
            "node_modules/react/LICENSE", "node_modules/react-dom/LICENSE")
BUNDLED = Path(__file__).resolve().parent / "webroot"      # inside an installed package
CHECKOUT = Path(__file__).resolve().parent.parent / "web"  # beside the source


def bundle() -> list[str]:
    """Every file the wheel carries, as a path relative to `web/`."""
    files = list(PAGE_FILES)
    for directory, names in VENDOR.values():
        files += [f"{directory}/{name}" for name in names]
    return files + list(LICENCES)


def default_root() -> Path:
    """The installed package's own copy, else `web/` of the checkout."""
    return BUNDLED if BUNDLED.is_dir() else CHECKOUT

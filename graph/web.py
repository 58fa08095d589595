"""The map page at `/`: the files in `web/`, and MapLibre GL JS and the label font's glyphs as
`npm ci --prefix web` installed them. Only named files are served, and the page's CSP lets it
reach this app alone."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

MAPLIBRE = Path("node_modules") / "maplibre-gl" / "dist"
# Noto Sans (SIL OFL) as signed-distance-field PBFs, 256 code points a file: MapLibre's labels.
GLYPHS = Path("node_modules") / "tileserver-gl-styles" / "fonts"
FONT = "Noto Sans Regular"
GLYPH_RANGE = re.compile(r"\d{1,5}-\d{1,5}")
PAGE_FILES = frozenset({"app.js", "api.js", "breaks.js", "fmt.js", "i18n.js", "layers.js",
                        "panel.js", "search.js", "state.js", "style.css", "trend.js"})
MAPLIBRE_FILES = frozenset({"maplibre-gl.js", "maplibre-gl.js.map", "maplibre-gl.css"})

# MapLibre starts its workers from blob: URLs and its sprites from data:/blob: images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "worker-src blob:; child-src blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
# The page's own files change with the code: revalidate. MapLibre's are pinned by the lock file.
REVALIDATE = "no-cache"
ONE_DAY = "public, max-age=86400"


def _serve(directory: Path, allowed: frozenset[str], name: str, cache: str,
           **headers: str) -> Response:
    path = directory / name
    if name not in allowed or not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": cache, **headers})


def _web_dir(request: Request) -> Path:
    """`web/` beside the source, or JANGKAU_WEB_DIR for an installed package (Docker)."""
    web_dir: Path = request.app.state.settings.web_dir
    return web_dir


async def page(request: Request) -> Response:
    web_dir = _web_dir(request)
    if not (web_dir / MAPLIBRE / "maplibre-gl.js").is_file():
        return PlainTextResponse("The map needs MapLibre GL JS: run `npm ci --prefix web` "
                                 "(or `make up`, which does it).", status_code=503)
    return _serve(web_dir, frozenset({"index.html"}), "index.html", REVALIDATE,
                  **{"Content-Security-Policy": CSP})


async def page_file(request: Request) -> Response:
    return _serve(_web_dir(request), PAGE_FILES, request.path_params["name"], REVALIDATE)


async def maplibre_file(request: Request) -> Response:
    return _serve(_web_dir(request) / MAPLIBRE, MAPLIBRE_FILES, request.path_params["name"],
                  ONE_DAY)


async def glyphs(request: Request) -> Response:
    """One range of the label font; MapLibre asks by font stack, and there is only one."""
    numbers = request.path_params["range"]
    path = _web_dir(request) / GLYPHS / FONT / f"{numbers}.pbf"
    if request.path_params["fontstack"] != FONT or not GLYPH_RANGE.fullmatch(numbers) \
            or not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, media_type="application/x-protobuf",
                        headers={"Cache-Control": ONE_DAY})


def web_routes() -> list[Route]:
    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/static/{name}", page_file, methods=["GET", "HEAD"]),
        Route("/vendor/maplibre-gl/{name}", maplibre_file, methods=["GET", "HEAD"]),
        Route("/glyphs/{fontstack}/{range}.pbf", glyphs, methods=["GET", "HEAD"]),
    ]

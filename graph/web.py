"""The map page at `/`: the files in `web/`, and what `npm ci --prefix web` vendored (MapLibre GL
JS and the label font's glyphs; React and GraphiQL for graph.graphiql). Only the files
graph.assets names are served, from the installed package's copy or the checkout, and the page's
CSP lets it reach this app alone."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from graph.assets import FONT, GLYPHS, PAGE_FILES, VENDOR, default_root

MAPLIBRE = Path(VENDOR["maplibre-gl"][0])
STATIC = tuple(name for name in PAGE_FILES if name != "index.html")  # the page goes with its CSP
GLYPH_RANGE = re.compile(r"\d{1,5}-\d{1,5}")

# MapLibre starts its workers from blob: URLs and its sprites from data:/blob: images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "worker-src blob:; child-src blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
# The page's own files change with the code: revalidate. Vendored ones are pinned by the lock file.
REVALIDATE = "no-cache"
ONE_DAY = "public, max-age=86400"


def _serve(directory: Path, allowed: tuple[str, ...], name: str, cache: str,
           **headers: str) -> Response:
    path = directory / name
    if name not in allowed or not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": cache, **headers})


def _web_dir(request: Request) -> Path:
    """JANGKAU_WEB_DIR when set, else the package's own copy or `web/` beside the source."""
    web_dir: Path | None = request.app.state.settings.web_dir
    return web_dir or default_root()


async def page(request: Request) -> Response:
    web_dir = _web_dir(request)
    if not (web_dir / MAPLIBRE / "maplibre-gl.js").is_file():
        return PlainTextResponse("The map needs MapLibre GL JS: run `npm ci --prefix web` "
                                 "(or `make up`, which does it).", status_code=503)
    return _serve(web_dir, ("index.html",), "index.html", REVALIDATE,
                  **{"Content-Security-Policy": CSP})


async def page_file(request: Request) -> Response:
    return _serve(_web_dir(request), STATIC, request.path_params["name"], REVALIDATE)


async def vendor_file(request: Request) -> Response:
    directory, names = VENDOR.get(request.path_params["package"], ("", ()))
    return _serve(_web_dir(request) / directory, names, request.path_params["name"], ONE_DAY)


async def glyphs(request: Request) -> Response:
    """One range of the label font; MapLibre asks by font stack, and there is only one."""
    numbers = request.path_params["range"]
    path = _web_dir(request) / GLYPHS / f"{numbers}.pbf"
    if request.path_params["fontstack"] != FONT or not GLYPH_RANGE.fullmatch(numbers) \
            or not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, media_type="application/x-protobuf",
                        headers={"Cache-Control": ONE_DAY})


def web_routes() -> list[Route]:
    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/static/{name}", page_file, methods=["GET", "HEAD"]),
        Route("/vendor/{package}/{name}", vendor_file, methods=["GET", "HEAD"]),
        Route("/glyphs/{fontstack}/{range}.pbf", glyphs, methods=["GET", "HEAD"]),
    ]

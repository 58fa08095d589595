"""The map page as a person sees it: the real app under uvicorn on demo data, Debian's Chromium
headless, driven over the DevTools protocol. What is checked is what is on the screen: pixels
of the screenshot, the legend, the details panel, the controls."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import itertools
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from shapely.geometry import shape
from websockets.asyncio.client import ClientConnection, connect

from geo.db import create_engine
from geo.demo import load_demo
from geo.periods import WIB
from graph.app import create_app
from tests.conftest import Api, settings_for
from tests.tokens import bearer, token
from tests.waits import within

CHROMIUM = "/usr/bin/chromium"
# From NOTES.md: software WebGL under --disable-gpu draws; the swiftshader flags draw nothing.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--hide-scrollbars", "--window-size=1100,860"]
VIEWPORT = {"width": 1100, "height": 860}
WAIT_S = 30.0
ARTIFACT = Path(__file__).parent / "artifacts" / "map.png"
GRID = 5            # sample every 5th pixel of the screenshot
MIN_PIXELS = 100    # a colour must cover at least this many samples to count as drawn

# Decode a screenshot in the page (the browser reads PNG natively) and sample its pixels.
SAMPLE_JS = """(async (b64, step, only) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, img.width, img.height).data;
  const out = [];
  for (let y = 0; y < img.height; y += step)
    for (let x = 0; x < img.width; x += step) {
      const i = (y * img.width + x) * 4;
      const rgb = [d[i], d[i + 1], d[i + 2]];
      if (!only || only.includes(rgb.join(","))) out.push([x, y, ...rgb]);
    }
  return out;
})"""

LEGEND_JS = """[...document.querySelectorAll("#legend-classes li")].map(li => ({
  label: li.querySelector(".range").textContent,
  count: Number(li.querySelector(".count").textContent.replace(/[()]/g, "")),
  rgb: getComputedStyle(li.querySelector(".swatch")).backgroundColor.match(/\\d+/g).map(Number),
}))"""

RECT_JS = """(sel => { const r = document.querySelector(sel).getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height}; })"""

# What floats over the map: the panel and MapLibre's controls.
OVERLAYS_JS = """[...document.querySelectorAll("#panel, .maplibregl-ctrl")].map(e => {
  const r = e.getBoundingClientRect();
  return [r.left - 2, r.top - 2, r.right + 2, r.bottom + 2]; })"""

RGB = tuple[int, int, int]


class Page:
    """One browser tab over its DevTools websocket: commands, page errors, and small helpers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                self.pending.pop(msg["id"]).set_result(msg)
            elif msg["method"] == "Runtime.exceptionThrown":
                self.errors.append(msg["params"]["exceptionDetails"]["text"])
            elif msg["method"] == "Log.entryAdded" and msg["params"]["entry"]["level"] == "error":
                entry = msg["params"]["entry"]
                self.errors.append(f"{entry['text']} {entry.get('url', '')}".strip())
            elif msg["method"] == "Runtime.consoleAPICalled" and msg["params"]["type"] == "error":
                self.errors.append(" ".join(str(a.get("value")) for a in msg["params"]["args"]))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        self.pending[n] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        reply = await within(self.pending[n], WAIT_S)
        assert "error" not in reply, (method, reply["error"])
        result: dict[str, Any] = reply["result"]
        return result

    async def js(self, expression: str) -> Any:
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                            awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    async def wait_for(self, expression: str) -> None:
        """Poll until `expression` is truthy; fail with what the page shows when it never is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while loop.time() < deadline:
            if await self.js(f"!!({expression})"):
                return
            await asyncio.sleep(0.1)
        status = await self.js("document.getElementById('status')?.textContent")
        pytest.fail(f"never true: {expression}\nstatus: {status}\npage errors: {self.errors}")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && document.getElementById('map')")

    async def ready(self) -> None:
        """The page has loaded its data and the map has drawn it."""
        await self.wait_for("document.getElementById('map').getAttribute('aria-busy') === 'false'")

    async def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                            clickCount=1)

    async def click_on(self, selector: str) -> None:
        r = await self.js(f"{RECT_JS}({json.dumps(selector)})")
        await self.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)

    async def text(self, selector: str) -> str:
        value: str = await self.js(f"document.querySelector({json.dumps(selector)}).textContent")
        return value.strip()

    async def screenshot(self) -> str:
        shot: str = (await self.send("Page.captureScreenshot", format="png"))["data"]
        return shot

    async def pixels(self, shot: str, step: int = GRID, only: list[RGB] | None = None
                     ) -> dict[tuple[int, int], RGB]:
        """Sampled pixels of a screenshot; with `only`, just those of these colours."""
        wanted = json.dumps([",".join(map(str, c)) for c in only]) if only else "null"
        samples = await self.js(f"{SAMPLE_JS}({json.dumps(shot)}, {step}, {wanted})")
        return {(x, y): (r, g, b) for x, y, r, g, b in samples}


@contextmanager
def serve_http(url: str, **settings: Any) -> Iterator[str]:
    """The real app under uvicorn, in a thread, on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings_for(url, **settings)), log_level="warning",
                            ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@asynccontextmanager
async def chromium(profile: Path, *flags: str) -> AsyncIterator[Page]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    log_path = profile.parent / "chromium.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, *flags, f"--user-data-dir={profile}", "about:blank"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(400):
            if port_file.exists() and port_file.read_text().count("\n") >= 1:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"chromium did not start:\n{log_path.read_text()[-2000:]}")
        port = port_file.read_text().split()[0]
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with connect(ws_url, max_size=None) as ws:
            page = Page(ws)
            try:
                for domain in ("Page", "Runtime", "Log"):
                    await page.send(f"{domain}.enable")
                await page.send("Emulation.setDeviceMetricsOverride", **VIEWPORT,
                                deviceScaleFactor=1, mobile=False)
                yield page
            finally:
                page.reader.cancel()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
async def demo_url(bare_db_url: str) -> str:
    """Real boundaries and 5,000 demo activities over the 90 days ending today (WIB)."""
    engine = create_engine(bare_db_url, pool_size=1)
    async with engine.connect() as conn:
        await load_demo(conn, 5000, seed=1, until=datetime.now(WIB).date())
    await engine.dispose()
    return bare_db_url


async def coverage_map(base: str, level: str, start: str, end: str, auth: str
                       ) -> dict[str, Any]:
    """The API's own FeatureCollection, to compare with what the page shows."""
    query = """query($level: AreaLevel!, $period: Period!) {
        coverageMap(level: $level, period: $period) }"""
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S, headers=bearer(auth)) as http:
        r = await http.post("/graphql", json={"query": query, "variables": {
            "level": level, "period": {"from": start, "to": end}}})
    body = r.json()
    assert "errors" not in body, body
    fc: dict[str, Any] = body["data"]["coverageMap"]
    return fc


async def legend(page: Page) -> list[dict[str, Any]]:
    """The legend's classes: label, number of areas, swatch colour."""
    entries: list[dict[str, Any]] = await page.js(LEGEND_JS)
    for e in entries:
        e["rgb"] = tuple(e["rgb"])
    return entries


async def map_pixels(page: Page, pixels: dict[tuple[int, int], RGB]
                     ) -> dict[tuple[int, int], RGB]:
    """The samples that fall on the map itself, not under the panel or the controls."""
    overlays = await page.js(OVERLAYS_JS)
    return {(x, y): rgb for (x, y), rgb in pixels.items()
            if not any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in overlays)}


def drawn_colours(pixels: dict[tuple[int, int], RGB], entries: list[dict[str, Any]]
                  ) -> Counter[RGB]:
    """How many map samples have each legend colour: a polygon's inside is its class's fill."""
    swatches = {e["rgb"] for e in entries}
    return Counter(rgb for rgb in pixels.values() if rgb in swatches)


def parse_range(label: str) -> tuple[float, float]:
    """'9 – 16' or '12' as the page writes numbers in Bahasa Indonesia (1.234,5)."""
    parts = [p.strip().replace(".", "").replace(",", ".") for p in label.split("–")]
    return float(parts[0]), float(parts[-1])


async def sign_in(page: Page, auth: str) -> None:
    """Paste an access token into the panel and use it, as a supervisor would; the page
    reloads with it."""
    # Without a token the server refuses the map (401): the one error the page may log so far.
    assert all("401" in e for e in page.errors), page.errors
    page.errors.clear()
    await page.js("window.beforeSignIn = true")
    await page.click_on("#token")
    await page.send("Input.insertText", text=auth)
    await page.click_on("#signin button[type=submit]")
    await page.wait_for("!window.beforeSignIn && document.readyState === 'complete'")
    await page.ready()


async def default_period(page: Page) -> tuple[str, str]:
    """The period inputs start at the last 30 days, WIB."""
    before = datetime.now(WIB).date()
    start: str = await page.js("document.getElementById('from').value")
    end: str = await page.js("document.getElementById('to').value")
    assert date.fromisoformat(end) in {before, datetime.now(WIB).date()}
    assert date.fromisoformat(start) == date.fromisoformat(end) - timedelta(days=29)
    return start, end


async def check_choropleth(page: Page, title: str, areas: int) -> list[dict[str, Any]]:
    """The legend has its title and a class per colour, and the map shows those colours."""
    assert await page.text("#legend-title") == title
    pixels = await page.pixels(await page.screenshot())
    classes = await legend(page)
    assert len(classes) >= 3
    assert sum(e["count"] for e in classes) == areas
    on_map = await map_pixels(page, pixels)
    drawn = drawn_colours(on_map, classes)
    assert len([c for c, n in drawn.items() if n >= MIN_PIXELS]) >= 2, drawn
    assert sum(drawn.values()) > len(on_map) / 8, "the city should fill much of the map"
    for e in classes:
        e["pixels"] = [p for p, rgb in on_map.items() if rgb == e["rgb"]]
    return classes


async def check_details(page: Page, areas: dict[str, dict[str, Any]],
                        classes: list[dict[str, Any]]) -> None:
    """A click on a kelurahan shows its name, code, figures and targets as the API has them,
    and the colour clicked is the legend class its figure falls in."""
    panel = await page.js(f"{RECT_JS}('#panel')")
    cx, cy = (panel["x"] + panel["width"] + VIEWPORT["width"]) / 2, VIEWPORT["height"] / 2
    drawn = [(p, e) for e in classes for p in e["pixels"]]
    (x, y), clicked = min(drawn, key=lambda pe: (pe[0][0] - cx) ** 2 + (pe[0][1] - cy) ** 2)
    await page.click(x, y)
    await page.wait_for("!document.getElementById('details').hidden")
    sub = await page.text("#details .sub")
    assert sub.startswith("Kelurahan · Kode ")
    area = areas[sub.rsplit(" ", 1)[-1]]
    assert await page.text("#details h2") == area["name"]
    for key, prop in (("activities", "activities"), ("distinct_staff", "distinctStaff"),
                      ("citizens_served", "citizensServed"), ("outcomes_met", "outcomesMet")):
        assert await page.text(f"#details dd[data-key={key}]") == str(area[prop])
    lo, hi = parse_range(clicked["label"])
    assert lo <= area["activities"] <= hi
    rows = await page.js("document.querySelectorAll('#details tbody tr').length")
    assert rows == len(area["attainment"])
    # Its trend (coverageSeries and coverage(compareTo)) is drawn once it arrives.
    await page.wait_for(
        "document.querySelector('#details svg.sparkline path')?.getAttribute('d')")


async def choose(page: Page, select: str, value: str) -> None:
    await page.js(f"""(() => {{ const s = document.querySelector({json.dumps(select)});
        s.value = {json.dumps(value)};
        s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")


async def check_points(page: Page, areas: dict[str, dict[str, Any]], geometry: dict[str, Any]
                       ) -> int:
    """Zoomed in on the busiest kelurahan, its activities are drawn as points: the pixels of
    the legend's "outcome met" dot on the map."""
    busiest = max(areas, key=lambda code: areas[code]["activities"])
    spot = shape(geometry[busiest]).representative_point()
    await page.js(f"location.hash = '#15/{spot.y:.5f}/{spot.x:.5f}'")
    await page.wait_for("document.querySelector('#points-hint .point-key')")
    await page.ready()
    met = await page.js("""getComputedStyle(document.querySelector('#points-hint .dot.met'))
        .backgroundColor.match(/\\d+/g).map(Number)""")
    dots = await page.pixels(await page.screenshot(), step=1, only=[tuple(met)])
    overlays = await page.js(OVERLAYS_JS)
    return sum(1 for x, y in dots
               if not any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in overlays))


async def check_phone(page: Page, url: str) -> None:
    """On a phone the map sits above the panel, which folds away to give the map room."""
    w, h = 390, 780
    await page.send("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1,
                    mobile=True)
    await page.goto(url)
    await page.ready()
    panel = await page.js(f"{RECT_JS}('#panel')")
    view = await page.js(f"{RECT_JS}('#map')")
    assert (panel["x"], panel["width"], panel["y"] + panel["height"]) == (0, w, h)
    assert panel["height"] <= h / 2
    assert (view["y"], view["width"], view["y"] + view["height"]) == (0, w, panel["y"])
    pixels = await page.pixels(await page.screenshot())
    drawn = drawn_colours(await map_pixels(page, pixels), await legend(page))
    assert len([c for c, n in drawn.items() if n >= MIN_PIXELS]) >= 2, drawn
    await page.click_on("#collapse")
    await page.wait_for("document.getElementById('panel-body').hidden")
    assert (await page.js(f"{RECT_JS}('#panel')"))["height"] < 80
    assert (await page.js(f"{RECT_JS}('#map')"))["height"] > h - 80


async def test_page_and_maplibre_come_from_this_app_only(api: Api) -> None:
    page = await api.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "://" not in page.text, "the page names no other host"
    # Every ES module the page imports, and what they import, is served.
    seen, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        r = await api.http.get(f"/static/{name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
        todo += [m for m in re.findall(r'from "\./([\w-]+\.js)"', r.text) if m not in seen]
    assert {"i18n.js", "fmt.js", "breaks.js", "search.js", "panel.js"} <= seen, seen
    # The label font comes from here too: one Noto Sans glyph range, nothing else.
    glyphs = await api.http.get("/glyphs/Noto%20Sans%20Regular/0-255.pbf")
    assert glyphs.status_code == 200 and len(glyphs.content) > 10_000
    assert glyphs.headers["content-type"] == "application/x-protobuf"
    for other in ("/glyphs/Arial/0-255.pbf", "/glyphs/Noto%20Sans%20Regular/..%2F..%2Fx.pbf",
                  "/glyphs/Noto%20Sans%20Regular/99999-100254.pbf"):
        assert (await api.http.get(other)).status_code == 404, other
    for src in ("/vendor/maplibre-gl/maplibre-gl.js", "/vendor/maplibre-gl/maplibre-gl.css",
                "/static/app.js", "/static/style.css"):
        assert f'"{src}"' in page.text, src
    for src in ("/vendor/maplibre-gl/maplibre-gl.js", "/vendor/maplibre-gl/maplibre-gl.css",
                "/static/i18n.js", "/static/style.css"):
        r = await api.http.get(src)
        assert r.status_code == 200 and r.content, src
    for other in ("/static/package.json", "/static/..%2Fpyproject.toml", "/static/index.html",
                  "/vendor/maplibre-gl/maplibre-gl.d.ts", "/vendor/maplibre-gl/..%2Fpackage.json"):
        assert (await api.http.get(other)).status_code == 404, other


@pytest.mark.browser
async def test_map_page_as_a_supervisor_sees_it(demo_url: str, tmp_path: Path) -> None:
    with serve_http(demo_url) as base:
        async with chromium(tmp_path / "profile") as page:
            await page.goto(f"{base}/")
            await page.ready()
            auth = token("admin")
            await sign_in(page, auth)
            start, end = await default_period(page)
            fc = await coverage_map(base, "KELURAHAN", start, end, auth)
            areas = {f["properties"]["code"]: f["properties"] for f in fc["features"]}
            assert len(areas) == 153

            classes = await check_choropleth(page, "Kegiatan", 153)
            await check_details(page, areas, classes)
            ARTIFACT.parent.mkdir(exist_ok=True)
            ARTIFACT.write_bytes(base64.b64decode(await page.screenshot()))

            # Another metric: its title, and colours of its own on the map.
            await choose(page, "#metric", "citizensServed")
            await page.ready()
            served = await check_choropleth(page, "Warga dilayani", 153)
            assert {e["rgb"] for e in served}.isdisjoint({e["rgb"] for e in classes})

            # English, one click away.
            await page.click_on("#lang")
            await page.wait_for("document.documentElement.lang === 'en'")
            assert await page.text("#legend-title") == "Citizens served"
            assert await page.text("#lang") == "Bahasa Indonesia"

            # Kecamatan: the 31 of them in the legend.
            await page.click_on("input[name=level][value=KECAMATAN]")
            await page.wait_for("document.getElementById('status').textContent.startsWith('31 ')")
            await page.ready()
            await check_choropleth(page, "Citizens served", 31)

            # Activity points once zoomed in, for the chosen period only.
            geometry = {f["properties"]["code"]: f["geometry"] for f in fc["features"]}
            assert await check_points(page, areas, geometry) >= 30
            await page.js("location.hash = '#11/-7.27/112.73'")
            await choose(page, "#from", "2020-01-01")
            await choose(page, "#to", "2020-01-31")
            await page.wait_for(
                "document.getElementById('status').textContent.includes('Jan 2020')")
            await page.ready()
            assert await check_points(page, areas, geometry) == 0

            await check_phone(page, f"{base}/")
            assert page.errors == []


ID_MONTHS = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
LIMIT_EXCEEDED_ID = ("Permintaan melebihi batas server, mis. periode terlalu panjang. "
                     "Pilih periode yang lebih pendek.")
# Text pixels: darker than any fill of the palettes (the darkest, #08519c, has blue 156).
DARK_JS = """(async (b64, boxes) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const canvas = Object.assign(document.createElement("canvas"),
                               {width: img.width, height: img.height});
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, img.width, img.height).data;
  let n = 0;
  for (let y = 0; y < img.height; y += 1)
    for (let x = 0; x < img.width; x += 1) {
      const i = (y * img.width + x) * 4;
      if (Math.max(d[i], d[i + 1], d[i + 2]) < 100
          && !boxes.some(([x0, y0, x1, y1]) => x0 <= x && x <= x1 && y0 <= y && y <= y1)) n += 1;
    }
  return n;
})"""


def tanggal(day: str) -> str:
    """A WIB day as the page writes it in Bahasa Indonesia: '1 Nov 2026'."""
    d = date.fromisoformat(day)
    return f"{d.day} {ID_MONTHS[d.month - 1]} {d.year}"


async def graphql(base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as http:
        body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def check_labels(page: Page) -> None:
    """Kelurahan names are drawn in the font this app serves, nothing fetched elsewhere."""
    await page.wait_for("performance.getEntriesByType('resource').some(e => "
                        "e.name.includes('/glyphs/Noto%20Sans%20Regular/0-255.pbf'))")
    hosts = await page.js("[...new Set(performance.getEntriesByType('resource')"
                          ".map(e => new URL(e.name).host))]")
    assert hosts == [await page.js("location.host")], hosts
    boxes = json.dumps(await page.js(OVERLAYS_JS))
    dark = await page.js(f"{DARK_JS}({json.dumps(await page.screenshot())}, {boxes})")
    assert dark > 100, f"no label text on the map: {dark} dark pixels"


async def type_into(page: Page, selector: str, text: str) -> None:
    await page.js(f"document.querySelector({json.dumps(selector)}).value = ''")
    await page.click_on(selector)
    await page.send("Input.insertText", text=text)


async def check_search(page: Page) -> None:
    """Typing a name lists the areas that match; choosing one flies there and opens it."""
    await type_into(page, "#search", "wonokromo")
    await page.wait_for("document.querySelector('#search-results button')")
    found = await page.js("[...document.querySelectorAll('#search-results button')]"
                          ".map(b => [b.dataset.code, b.querySelector('.name').textContent])")
    # The kecamatan and the kelurahan of that name first, then names that contain it.
    assert [name for _, name in found[:2]] == ["Wonokromo", "Wonokromo"], found
    assert sorted(code.count(".") for code, _ in found[:2]) == [2, 3], found
    kelurahan = next(code for code, _ in found if code.count(".") == 3)
    await page.click_on(f"#search-results button[data-code='{kelurahan}']")
    await page.wait_for(f"!document.getElementById('details').hidden && "
                        f"document.querySelector('#details .sub').textContent.endsWith("
                        f"'{kelurahan}')")
    assert await page.text("#details h2") == "Wonokromo"
    await page.wait_for("Number(location.hash.slice(1).split('/')[0]) >= 13.9")
    await type_into(page, "#search", "35.78.0")
    await page.wait_for("document.querySelectorAll('#search-results button').length === 8")
    await type_into(page, "#search", "tidak ada")
    await page.wait_for("document.querySelector('#search-results .hint')")
    assert await page.text("#search-results") == "Tidak ada wilayah bernama “tidak ada”."
    await type_into(page, "#search", "")
    await page.js("document.getElementById('search').dispatchEvent(new Event('input'))")


async def check_filters(page: Page, base: str, start: str, end: str) -> str:
    """A unit narrows the figures to its activities, and the services offered to its own."""
    units = await page.js("[...document.querySelectorAll('#unit option')].map(o => o.value)")
    assert units[0] == "" and len(units) > 5
    ref = await graphql(base, "{ serviceCategories { code unitCode } }", {})
    owner = {c["code"]: c["unitCode"] for c in ref["serviceCategories"]}
    await choose(page, "#unit", "DINKES")
    await page.wait_for("location.search.includes('unit=DINKES')")
    await page.ready()
    offered = await page.js("[...document.querySelectorAll('#category option')].map(o => o.value)")
    assert offered[0] == "" and len(offered) > 1
    assert {owner[c] for c in offered[1:]} == {"DINKES"}
    fc = await graphql(base, """query($p: Period!, $f: ActivityFilter) {
        coverageMap(level: KELURAHAN, period: $p, filter: $f) }""",
                       {"p": {"from": start, "to": end}, "f": {"unitCode": "DINKES"}})
    shown = await page.text("#details .sub")
    area = next(f["properties"] for f in fc["coverageMap"]["features"]
                if f["properties"]["code"] == shown.rsplit(" ", 1)[-1])
    assert await page.text("#details dd[data-key=activities]") == str(area["activities"])
    return "DINKES"


async def check_no_data(page: Page, base: str, unit: str) -> None:
    """An empty period says so and offers the last period of the same length with activity."""
    await choose(page, "#from", "2020-01-01")
    await choose(page, "#to", "2020-01-31")
    await page.wait_for("!document.getElementById('no-data').hidden")
    await page.ready()
    last = (await graphql(base, "query($f: ActivityFilter) { lastActivityDate(filter: $f) }",
                          {"f": {"unitCode": unit}}))["lastActivityDate"]
    offered_from = (date.fromisoformat(last) - timedelta(days=30)).isoformat()
    box = await page.text("#no-data")
    assert box.startswith("Tidak ada kegiatan pada 1 Jan 2020 – 31 Jan 2020."), box
    assert f"Kegiatan terakhir pada {tanggal(last)}." in box, box
    assert await page.text("#show-last") == \
        f"Tampilkan {tanggal(offered_from)} – {tanggal(last)}"
    assert await page.js("document.querySelectorAll('#legend-classes li').length") == 0
    await page.click_on("#show-last")
    await page.wait_for("document.getElementById('no-data').hidden")
    await page.ready()
    assert (await page.js("document.getElementById('from').value"),
            await page.js("document.getElementById('to').value")) == (offered_from, last)
    assert await page.text("#period-text") == f"{tanggal(offered_from)} – {tanggal(last)}"


async def check_error_text(page: Page) -> None:
    """The server's refusal (a period over its limit) in the page's language, by its code."""
    await choose(page, "#from", "2000-01-01")
    await page.wait_for("document.getElementById('status').classList.contains('error')")
    assert await page.text("#status") == LIMIT_EXCEEDED_ID
    await page.click_on("#lang")
    await page.wait_for("document.documentElement.lang === 'en'")
    assert (await page.text("#status")).startswith("The request exceeds a server limit")
    await page.click_on("#lang")
    await page.wait_for("document.documentElement.lang === 'id'")
    # The browser logs the refused request itself; nothing else may have gone wrong.
    assert all("status of 4" in e for e in page.errors), page.errors
    page.errors.clear()


@pytest.mark.browser
async def test_map_page_without_a_token_shows_the_public_figures(demo_url: str,
                                                                 tmp_path: Path) -> None:
    """JANGKAU_PUBLIC_LEVEL=KELURAHAN: the choropleth for anyone, the points for no one; names
    on the map, search, filters, Indonesian dates and messages, the empty-period hint."""
    with serve_http(demo_url, public_level="KELURAHAN") as base:
        async with chromium(tmp_path / "profile") as page:
            await page.goto(f"{base}/")
            await page.ready()
            await check_choropleth(page, "Kegiatan", 153)
            start, end = await default_period(page)
            assert await page.text("#status") == \
                f"153 wilayah, {tanggal(start)} – {tanggal(end)} (WIB)"
            assert await page.text("#period-text") == f"{tanggal(start)} – {tanggal(end)}"
            assert await page.js("document.getElementById('preset').value") == "last30"
            await check_labels(page)
            await check_search(page)
            unit = await check_filters(page, base, start, end)
            await page.js("location.hash = '#11/-7.27/112.73'")
            await check_no_data(page, base, unit)
            await check_error_text(page)
            await page.js("location.hash = '#15/-7.27/112.73'")
            await choose(page, "#from", start)
            await page.ready()
            assert await page.text("#points-hint") == \
                "Titik kegiatan hanya untuk pengguna dengan token akses."
            await check_phone(page, f"{base}/")
            await page.click_on("#collapse")
            await page.wait_for("!document.getElementById('panel-body').hidden")
            await check_search(page)      # on a phone too
            assert page.errors == []


# Catch what the page hands the browser to save: the Blob and the <a download> name.
CATCH_DOWNLOAD_JS = """(() => {
  const make = URL.createObjectURL;
  URL.createObjectURL = (blob) => { window.savedBlob = blob; return make(blob); };
  HTMLAnchorElement.prototype.click = function () { window.savedName = this.download; };
})()"""

TEAM_QUERY = """query($u: String!, $p: Period!) { team(unitCode: $u, period: $p, first: 200) {
    edges { node { staff { id name } activities } } } }"""


async def graphql_as(base: str, auth: str, query: str, variables: dict[str, Any]
                     ) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S, headers=bearer(auth)) as http:
        body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def check_download(page: Page, base: str, auth: str, start: str, end: str) -> None:
    """The CSV button saves the coverage of the level and period shown, as the API counts it."""
    url = await page.js("document.getElementById('dl-coverage-csv').dataset.url")
    assert url.startswith("/export/coverage.csv?") and f"from={start}" in url, url
    assert "level=KELURAHAN" in url and "lang=id" in url, url
    await page.js(CATCH_DOWNLOAD_JS)
    await page.click_on("#dl-coverage-csv")
    await page.wait_for("window.savedName")
    assert (await page.js("window.savedName")).endswith(".csv")
    text: str = await page.js("window.savedBlob.text()")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    fc = await coverage_map(base, "KELURAHAN", start, end, auth)
    shown = {f["properties"]["code"]: f["properties"]["activities"] for f in fc["features"]}
    assert {r["Kode wilayah"]: int(r["Aktivitas"]) for r in rows} == shown
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S, headers=bearer(auth)) as http:
        r = await http.get(await page.js("document.getElementById('dl-team-xlsx').dataset.url"))
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]


async def check_team(page: Page, base: str, auth: str, start: str, end: str) -> dict[str, Any]:
    """The team tab lists the supervisor's team, sorts by a header, and a name shows that
    person's points with a chip that clears them."""
    team = await graphql_as(base, auth, TEAM_QUERY, {"u": "DINKES",
                                                     "p": {"from": start, "to": end}})
    people = [e["node"] for e in team["team"]["edges"]]
    assert len(people) > 1
    await page.click_on("#tab-team")
    await page.wait_for("document.querySelector('#team-table tbody tr')")
    names = "[...document.querySelectorAll('#team-table tbody .person')].map(b => b.textContent)"
    assert sorted(await page.js(names)) == sorted(p["staff"]["name"] for p in people)
    assert (await page.text("#team-title")).startswith("Tim ")
    for order in ("ascending", "descending"):
        await page.click_on("#team-table button[data-sort=name]")
        await page.wait_for(f"document.querySelector('#team-table th[aria-sort={order}] "
                            "button[data-sort=name]')")
        shown = await page.js(names)
        assert shown == sorted(shown, key=str.casefold, reverse=order == "descending")
    busiest = max(people, key=lambda p: p["activities"])
    await page.click_on(f"#team-table button[data-staff='{busiest['staff']['id']}']")
    await page.wait_for("!document.getElementById('staff-chip').hidden")
    assert (await page.text("#staff-chip span")) == \
        f"Menampilkan kegiatan {busiest['staff']['name']}"
    tilejson = f"/tiles/activities.json?from={start}&to={end}&staffId={busiest['staff']['id']}"
    await page.wait_for("performance.getEntriesByType('resource').some(e => "
                        f"e.name.endsWith('{tilejson}'))")
    await page.click_on("#staff-chip button")
    await page.wait_for("document.getElementById('staff-chip').hidden")
    return busiest


async def check_live(page: Page, base: str, staff_id: str) -> None:
    """An activity recorded through the API while the page is open raises the open
    kelurahan's figure, without a reload."""
    await page.js("window.notReloaded = true")
    await type_into(page, "#search", "wonokromo")
    await page.wait_for("document.querySelector('#search-results button')")
    found = await page.js("[...document.querySelectorAll('#search-results button')]"
                          ".map(b => b.dataset.code)")
    kelurahan = next(code for code in found if code.count(".") == 3)
    await page.click_on(f"#search-results button[data-code='{kelurahan}']")
    figure = "Number(document.querySelector('#details dd[data-key=activities]').textContent" \
        ".replace(/\\./g, ''))"
    await page.wait_for(f"document.querySelector('#details .sub')?.textContent.endsWith("
                        f"'{kelurahan}') && {figure} >= 0")
    before = await page.js(figure)
    admin = token("admin")
    last = await graphql_as(base, admin, """query($f: ActivityFilter) {
        activities(filter: $f, first: 1) { edges { node { category outcome } } } }""",
                            {"f": {"staffId": staff_id}})
    like = last["activities"]["edges"][0]["node"]
    areas = await graphql_as(base, admin, "{ areas(level: KELURAHAN) { code labelPoint } }", {})
    point = next(a["labelPoint"] for a in areas["areas"] if a["code"] == kelurahan)
    now = datetime.now(WIB).replace(microsecond=0) - timedelta(minutes=1)
    recorded = await graphql_as(base, admin, """mutation($i: [ActivityInput!]!) {
        recordActivities(inputs: $i) { status activity { id flags } } }""", {"i": [{
        "id": str(uuid.uuid4()), "staffId": staff_id, "category": like["category"],
        "startedAt": now.isoformat(), "location": point, "accuracyMeters": 5.0,
        "citizensServed": 2, "outcome": like["outcome"], "outcomeMet": True}]})
    assert recorded["recordActivities"][0]["status"] == "CREATED", recorded
    stored = recorded["recordActivities"][0]["activity"]
    if stored["flags"]:     # e.g. outside the person's areas, or at night: it counts once accepted
        await graphql_as(base, admin, """mutation($id: ID!) {
            resolveFlags(activityId: $id, decision: ACCEPTED, reason: "browser test") { id } }""",
                         {"id": stored["id"]})
    await page.wait_for(f"{figure} === {before + 1}")
    assert await page.js("window.notReloaded") is True


@pytest.mark.browser
async def test_map_page_team_downloads_and_live_figures(demo_url: str, tmp_path: Path) -> None:
    """A DINKES supervisor downloads what is shown, finds their team and one person's points,
    and sees an activity recorded meanwhile arrive on the map."""
    supervisor = token("supervisor", str(uuid.uuid4()), "DINKES")
    with serve_http(demo_url) as base:
        async with chromium(tmp_path / "profile") as page:
            await page.goto(f"{base}/")
            await page.ready()
            await sign_in(page, supervisor)
            start, end = await default_period(page)
            await check_download(page, base, supervisor, start, end)
            busiest = await check_team(page, base, supervisor, start, end)
            await page.click_on("#tab-map")
            await check_live(page, base, busiest["staff"]["id"])
            assert page.errors == []


async def dark_dots_at_centre(page: Page, colour: RGB, half: int = 12) -> int:
    """Pixels of `colour` (a met activity's dot) in a small box at the map's centre."""
    box = await page.js(f"{RECT_JS}('#map')")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dots = await page.pixels(await page.screenshot(), step=1, only=[colour])
    return sum(1 for x, y in dots if abs(x - cx) <= half and abs(y - cy) <= half)


@pytest.mark.browser
async def test_map_page_zoomed_in_draws_a_new_point_without_a_reload(demo_url: str,
                                                                     tmp_path: Path) -> None:
    """Zoomed in where points are drawn, an activity recorded through the API at the centre of
    the view appears there as a dot, without a reload."""
    supervisor = token("supervisor", str(uuid.uuid4()), "DINKES")
    admin = token("admin")
    with serve_http(demo_url) as base:
        recent = await graphql_as(base, admin, """query($f: ActivityFilter) {
            activities(filter: $f, first: 1) {
                edges { node { staff { id } category outcome } } } }""",
                                  {"f": {"unitCode": "DINKES"}})
        like = recent["activities"]["edges"][0]["node"]
        areas = await graphql_as(base, admin, "{ areas(level: KELURAHAN) { code labelPoint } }",
                                 {})
        async with chromium(tmp_path / "profile") as page:
            await page.goto(f"{base}/")
            await page.ready()
            await sign_in(page, supervisor)
            await page.js("window.notReloaded = true")
            colour: RGB = (0x11, 0x18, 0x27)       # web/layers.js POINT_MET
            # A spot off a kelurahan's label (no name drawn there) with no dot on it yet.
            for area in areas["areas"][::17]:
                lon, lat = area["labelPoint"]["coordinates"]
                lon += 0.002
                await page.js(f"location.hash = '#16/{lat:.6f}/{lon:.6f}'")
                await page.wait_for("document.querySelector('#points-hint .point-key')")
                await page.ready()
                if await dark_dots_at_centre(page, colour) == 0:
                    break
            else:
                pytest.fail("no empty spot found to record at")
            now = datetime.now(WIB).replace(microsecond=0) - timedelta(minutes=1)
            recorded = await graphql_as(base, admin, """mutation($i: [ActivityInput!]!) {
                recordActivities(inputs: $i) { status activity { id flags } } }""", {"i": [{
                "id": str(uuid.uuid4()), "staffId": like["staff"]["id"],
                "category": like["category"], "startedAt": now.isoformat(),
                "location": {"type": "Point", "coordinates": [lon, lat]},
                "accuracyMeters": 5.0, "citizensServed": 1, "outcome": like["outcome"],
                "outcomeMet": True}]})
            stored = recorded["recordActivities"][0]["activity"]
            if stored["flags"]:     # a flagged activity is drawn once accepted
                await graphql_as(base, admin, """mutation($id: ID!) {
                    resolveFlags(activityId: $id, decision: ACCEPTED, reason: "browser test") {
                        id } }""", {"id": stored["id"]})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            while await dark_dots_at_centre(page, colour) < 20:
                if loop.time() > deadline:
                    pytest.fail(f"the new point was not drawn; page errors: {page.errors}")
                await asyncio.sleep(0.25)
            assert await page.js("window.notReloaded") is True
            assert page.errors == []

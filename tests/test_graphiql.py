"""GraphiQL at /graphql comes from the app itself: React and GraphiQL as npm pinned them, no CDN,
so it works on a machine without internet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.test_browser import chromium, serve_http

# Every host name resolves to nothing, except the app's loopback address.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


async def test_graphiql_loads_only_from_this_app(api: Api) -> None:
    r = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp
    assert "://" not in r.text, "the page names no other host"
    sources = re.findall(r'(?:src|href)="(/[^"]*)"', r.text)
    assert {"/vendor/react/react.production.min.js", "/vendor/graphiql/graphiql.min.js",
            "/vendor/graphiql/graphiql.min.css", "/static/graphiql.js"} <= set(sources)
    for src in sources:
        asset = await api.http.get(src)
        assert (asset.status_code, len(asset.content) > 100) == (200, True), src
    assert (await api.http.get("/vendor/react/package.json")).status_code == 404


@pytest.mark.browser
async def test_graphiql_renders_and_reads_the_schema_offline(db_url: str, tmp_path: Path) -> None:
    with serve_http(db_url) as base:
        async with chromium(tmp_path / "profile", OFFLINE) as page:
            await page.send("Page.navigate", url=f"{base}/graphql")
            await page.wait_for("document.querySelector('.graphiql-query-editor .CodeMirror')")
            # The schema came over introspection: the documentation explorer lists Query.
            await page.click_on("button[aria-label='Show Documentation Explorer']")
            await page.wait_for("document.querySelector('.graphiql-doc-explorer')"
                                "?.textContent.includes('Query')")
            loaded = await page.js(
                "performance.getEntriesByType('resource').map(e => e.name)")
            assert loaded and all(url.startswith(f"{base}/") for url in loaded), loaded
            assert f"{base}/vendor/graphiql/graphiql.min.js" in loaded
            assert page.errors == []

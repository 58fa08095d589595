"""GraphiQL at `/graphql` from the app itself, in place of strawberry's page, which loads React
and GraphiQL from a CDN and so stays on "Loading…" without internet. The scripts are the
npm-pinned copies under /vendor/ (graph.assets) and the page's CSP lets it reach this app alone.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

# GraphiQL's editor and dialogs set inline styles; scripts stay this app's own.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Jangkau GraphiQL</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/vendor/graphiql/graphiql.min.css">
  <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/vendor/react/react.production.min.js"></script>
  <script src="/vendor/react-dom/react-dom.production.min.js"></script>
  <script src="/vendor/graphiql/graphiql.min.js"></script>
  <script src="/static/graphiql.js"></script>
</body>
</html>
"""


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP,
                                       "Cache-Control": "no-cache"})

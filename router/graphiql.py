"""GraphiQL for the dev profile, served from an installed npm `graphiql` package (no CDN, no copies)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.config import RouterSettings

ASSET_ROUTE = "/graphiql-assets"
# Files GraphiQL 3 needs, relative to a node_modules directory holding graphiql, react and react-dom (18).
ASSETS = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Finpace GraphiQL</title>
<link rel="stylesheet" href="{base}/graphiql.css">
<style>body{{margin:0;height:100vh}}#graphiql{{height:100vh}}</style></head>
<body><div id="graphiql">Loading…</div>
<script src="{base}/react.js"></script>
<script src="{base}/react-dom.js"></script>
<script src="{base}/graphiql.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({{url: "/graphql"}});
ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {{fetcher}}));
</script></body></html>
"""


def asset_files(settings: RouterSettings) -> dict[str, Path] | None:
    """Asset name -> file, when `graphiql_assets` points at a node_modules with every file present."""
    root = settings.graphiql_assets
    if root is None:
        return None
    files = {name: Path(root) / rel for name, rel in ASSETS.items()}
    return files if all(p.is_file() for p in files.values()) else None


def graphiql_html(settings: RouterSettings) -> str | None:
    """The GraphiQL page, or None when the assets are not installed (then browsers get JSON)."""
    return _PAGE.format(base=ASSET_ROUTE) if asset_files(settings) else None

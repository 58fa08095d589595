"""The data layer stands alone: `geo` imports no strawberry, starlette or `graph`."""

from __future__ import annotations

import ast
from pathlib import Path

GEO = Path(__file__).resolve().parent.parent / "geo"
FORBIDDEN = {"strawberry", "starlette", "graph"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_geo_never_imports_the_api_layer() -> None:
    files = sorted(GEO.rglob("*.py"))
    assert len(files) > 20
    offenders = {str(p.relative_to(GEO)): imported_roots(p) & FORBIDDEN for p in files}
    assert {p: bad for p, bad in offenders.items() if bad} == {}


def test_the_scan_sees_imports() -> None:
    assert "sqlalchemy" in imported_roots(GEO / "coverage.py")

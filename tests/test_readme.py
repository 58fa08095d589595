"""The README's example queries are valid against the schema the code prints."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema as from_sdl
from graphql import parse, validate

from graph.schema import build_schema

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_queries_validate() -> None:
    queries = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    assert len(queries) >= 3
    schema = from_sdl(build_schema().as_str())
    for query in queries:
        assert validate(schema, parse(query)) == [], query

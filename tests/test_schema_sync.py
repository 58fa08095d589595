"""The committed schema.graphql is the schema the code serves."""

from __future__ import annotations

from pathlib import Path

from graph.schema import schema

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    printed = schema.as_str() + "\n"     # `make schema` writes it with print()
    assert SDL.exists(), "schema.graphql is missing: run `make schema` and commit it"
    assert SDL.read_text() == printed, (
        "schema.graphql is out of date: run `make schema` and commit it")


def test_schema_has_the_contracted_roots() -> None:
    printed = schema.as_str()
    for line in [
        "area(code: String!): Area",
        "areas(level: AreaLevel = null, parentCode: String = null, bbox: [Float!] = null): "
        "[Area!]!",
        "coverage(level: AreaLevel!, period: Period!, filter: ActivityFilter = null, "
        "compareTo: Period = null): [AreaCoverage!]!",
        "coverageSeries(level: AreaLevel!, period: Period!, bucket: Bucket!, "
        "filter: ActivityFilter = null): [AreaSeries!]!",
        "enum Bucket {",
        "previous: CoverageFigures",
        "activities(filter: ActivityFilter = null, first: Int = null, after: String = null): "
        "ActivityConnection!",
        "activity(id: ID!): Activity",
        "staff(id: ID!): Staff",
        "recordActivity(input: ActivityInput!): RecordResult!",
        "recordActivities(inputs: [ActivityInput!]!): [RecordResult!]!",
        "setTarget(input: TargetInput!): Target!",
        "enum RecordStatus {",
        "scalar GeoJSON",
    ]:
        assert line in printed, line

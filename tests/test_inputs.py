"""The write path's shortcuts give what the general paths give: an `ActivityInput` built straight
from the coerced value (graph.inputs.scalar_fields) equals Strawberry's own conversion, and
`parse_point` accepts and refuses every location as `parse_geometry` does."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition

from geo.errors import JangkauError
from geo.validate import parse_geometry, parse_point
from graph.inputs import ActivityInput
from graph.schema import schema

FULL = {"id": "a", "staffId": "b", "category": "KES", "startedAt": "t0", "endedAt": "t1",
        "deviceTime": "t2", "location": {"type": "Point", "coordinates": [112.7, -7.3]},
        "accuracyMeters": 5.0, "mockLocation": True, "citizensServed": 3, "outcome": "X",
        "outcomeMet": False, "note": "n"}
REQUIRED = ("id", "staffId", "category", "startedAt", "location", "citizensServed", "outcomeMet")


def _generic(value: dict[str, Any]) -> Any:
    definition = get_object_definition(ActivityInput, strict=True)
    hook, definition.from_input = definition.from_input, None
    try:
        return convert_argument(value, ActivityInput, schema.schema_converter.scalar_registry,
                                schema.config)
    finally:
        definition.from_input = hook


@pytest.mark.parametrize("value", [
    FULL,
    {k: v for k, v in FULL.items() if k in REQUIRED},
    {**{k: v for k, v in FULL.items() if k in REQUIRED}, "note": None, "endedAt": None},
], ids=["every field", "required only", "explicit nulls"])
def test_activity_input_is_built_as_strawberry_builds_it(value: dict[str, Any]) -> None:
    assert get_object_definition(ActivityInput, strict=True).from_input is not None
    fast = convert_argument(value, ActivityInput, schema.schema_converter.scalar_registry,
                            schema.config)
    assert type(fast) is ActivityInput
    assert fast == _generic(value)


def _outcome(call: Any) -> Any:
    try:
        return call()
    except JangkauError as exc:
        return (exc.code, exc.message)


@pytest.mark.parametrize("location", [
    {"type": "Point", "coordinates": [112.7, -7.3]},
    {"type": "Point", "coordinates": [112, -7]},
    {"type": "Point", "coordinates": (112.7, -7.3)},
    {"type": "Point", "coordinates": [-7.3, 112.7]},
    {"type": "Point", "coordinates": [2.35, 48.85]},
    {"type": "Point", "coordinates": [112.7, -7.3, 4.0]},
    {"type": "Point", "coordinates": [112.7]},
    {"type": "Point", "coordinates": [True, -7.3]},
    {"type": "Point", "coordinates": ["112.7", -7.3]},
    {"type": "Point", "coordinates": [10 ** 400, -7.3]},
    {"type": "Point", "coordinates": [float("nan"), -7.3]},
    {"type": "Point", "coordinates": None},
    {"type": "Point"},
    {"type": "Polygon", "coordinates": []},
    {"type": "Circle", "coordinates": [112.7, -7.3]},
    {"coordinates": [112.7, -7.3]},
    [112.7, -7.3],
    None,
])
def test_parse_point_agrees_with_parse_geometry(location: Any) -> None:
    def general() -> tuple[float, float]:
        point, _ = parse_geometry(location, ("Point",), where="location")
        return point.x, point.y   # type: ignore[attr-defined]

    assert _outcome(lambda: parse_point(location, where="location")) == _outcome(general)

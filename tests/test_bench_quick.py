"""The benchmark harness end to end in --quick mode, so that it never rots (issue 6).

It asserts what ran and that nothing failed or disagreed with its reference, never how fast:
the figures come from the full run only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import NOT_AVAILABLE, OK, QUICK_SKIP, replace_block
from bench.stats import percentile, summarize
from geo.settings import Settings
from graph.app import create_app
from graph.schema import schema
from tests import dbs

ROOT = Path(__file__).parent.parent
KEYS = ["bulk_load", "coverage_30d", "coverage_90d", "coverage_map_z12", "activities_first_100",
        "activities_first_100_postgraphile", "tile_activities_z10", "tile_activities_z12",
        "tile_activities_z14", "tile_areas_z12", "concurrent_mix", "server_rss",
        "activity_lookup", "record_activities"]
PEER_ROWS = {"activities_first_100_postgraphile", "tile_activities_z10", "tile_activities_z12",
             "tile_activities_z14", "tile_areas_z12", "concurrent_mix", "activity_lookup"}


def _available(key: str) -> bool:
    """Whether the feature a row measures exists in this tree yet (others build it meanwhile)."""
    if key == "coverage_map_z12":
        return "coverageMap(" in schema.as_str()
    if key.startswith("tile_"):
        return any(getattr(r, "path", "").startswith("/tiles/")
                   for r in create_app(Settings()).routes)
    return True


def _numeric(figures: dict[str, Any] | None) -> bool:
    return bool(figures) and all(isinstance(v, int | float) for v in figures.values())


def test_quick_run_measures_every_scenario(admin: str, tmp_path: Path) -> None:
    name = f"{dbs.PREFIX}bench"
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "bench" / "README.md").read_text())
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "--quick", "--activities", "2000", "--database", name,
           "--results-dir", str(results), "--readme", str(readme)]
    try:
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL)
    finally:
        dbs.run_sync(lambda: dbs.drop(admin, name))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    doc = json.loads((results / "latest.json").read_text())
    rows = {r["key"]: r for r in doc["rows"]}
    assert list(rows) == KEYS
    assert doc["meta"]["activities"] == 2000 and doc["meta"]["quick"] is True
    assert doc["meta"]["machine"]["postgis"]
    for key, row in rows.items():
        assert row["errors"] == 0, row
        if not _available(key):
            assert row["status"] == NOT_AVAILABLE, row
            continue
        assert _numeric(row["jangkau"]), row
        if key in PEER_ROWS:
            assert row["status"] == QUICK_SKIP and row["ref"] is None, row
        elif row["reference"] != "—":
            assert row["status"] == OK and _numeric(row["ref"]), row
            assert isinstance(row["ratio"], float) and row["ratio"] > 0, row
    assert rows["record_activities"]["jangkau"]["lost"] == 0
    assert rows["record_activities"]["jangkau"]["stored"] == 2000

    text = readme.read_text()
    assert "No run recorded yet" not in text
    assert "Command: `python -m bench --quick --activities 2000" in text
    assert text.count("<!-- results:start -->") == 1 and text.count("<!-- results:end -->") == 1


def test_replace_block_keeps_the_rest_and_needs_markers() -> None:
    text = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n"
    assert replace_block(text, "new") == \
        "intro\n<!-- results:start -->\nnew\n<!-- results:end -->\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        replace_block("no markers", "new")


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 4.8
    s = summarize([0.25, 0.75, 0.5])
    assert (s.n, s.p50, s.min, s.max, s.q1, s.q3) == (3, 500.0, 250.0, 750.0, 375.0, 625.0)

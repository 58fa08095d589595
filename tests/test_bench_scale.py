"""The scale harness (bench.scale) and the pruning measurement (bench.pruning) end to end on a
small load, so that they never rot before the next 10,000,000-row run. They assert what ran,
that every answer agreed with its reference and what a plan touched, never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import dbs

ROOT = Path(__file__).parent.parent
KEYS = ["coverage_30d", "coverage_90d", "coverage_map_z12", "activities_first_100",
        "tile_activities_z10", "tile_activities_z12", "tile_activities_z14", "tile_areas_z12",
        "record_activities"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_scale_run_then_pruning(admin: str, tmp_path: Path) -> None:
    name = f"{dbs.PREFIX}scale"
    try:
        run = _run("bench.scale", "--quick", "--keep", "--activities", "3000", "--staff", "60",
                   "--database", name, "--results-dir", str(tmp_path))
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        pruned = _run("bench.pruning", "--quick", "--database", name, "--results-dir",
                      str(tmp_path))
        assert pruned.returncode == 0, pruned.stdout[-4000:] + pruned.stderr[-4000:]
    finally:
        dbs.run_sync(lambda: dbs.drop(admin, name))

    doc = json.loads((tmp_path / "scale-3000.json").read_text())
    assert doc["meta"]["staff"] == 60
    assert [r["key"] for r in doc["rows"]] == KEYS
    assert all(r["errors"] == 0 and r["jangkau"] for r in doc["rows"])
    sizes = doc["sizes"]
    assert set(sizes["relations"]) == {"activities", "activity_ids", "flag_reviews",
                                       "rollup_area_day", "rollup_presence"}
    assert sizes["relations"]["activity_ids"]["heap"] > 3000 * 40
    assert sizes["relations"]["activities"]["heap"] > 3000 * 100
    assert sizes["per_activity"] == round(sizes["total"] / 3000, 1)
    assert doc["load"]["rows_per_s"] > 0
    record = next(r for r in doc["rows"] if r["key"] == "record_activities")["jangkau"]
    assert record["lost"] == 0 and record["batch_p95_ms"] >= record["batch_p50_ms"] > 0

    growth = _run("bench.scale", "--table", "--results-dir", str(tmp_path))
    assert "| figure | 3,000 | growth |" in growth.stdout
    assert "| bytes per activity (all of the above) |" in growth.stdout

    plans = json.loads((tmp_path / f"pruning-{name}.json").read_text())
    # The loaded table is partitioned (0012): the copy is the plain one.
    assert plans["copy"]["public_partitioned"] is True and plans["copy"]["partitions"] == []
    # A month asked reads that month's partition only; the unpartitioned table has none.
    for key in ("month_coverage", "period_page"):
        assert plans["plans"][key]["partitioned"]["scanned"] == ["activities_p2026_10"], key
        assert plans["plans"][key]["unpartitioned"]["scanned"] == [], key
    assert all(r["errors"] == 0 and r["ratio"] for r in plans["rows"])

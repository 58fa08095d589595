"""The map page's pure helpers (class breaks, colours, number and WIB date formatting, area
search, an area's trend, error codes from the API, the words of both languages) under node's
own test runner, so `make test` runs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).parent.parent / "web"


def test_node_unit_tests_of_the_map_page_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the map page needs Node.js (.ci/run installs npm)")
    tests = sorted((WEB / "test").glob("*.test.js"))
    assert len(tests) >= 6, tests
    run = subprocess.run([node, "--test", *map(str, tests)], cwd=WEB, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout[-2000:]

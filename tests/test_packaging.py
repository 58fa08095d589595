"""The wheel carries what an installed `jangkau` needs at run time: every module, the migrations,
the boundary files with their licences, and bounded dependencies; unpacked, it migrates."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from geo import migrate

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "graph")
REQUIRED = [
    "geo/migrations/env.py",
    "geo/migrations/script.py.mako",
    "geo/migrations/versions/0001_initial.py",
    "geo/data/surabaya/surabaya_kota.geojson",
    "geo/data/surabaya/surabaya_kecamatan_dissolved.geojson",
    "geo/data/surabaya/surabaya_kelurahan.geojson",
    "geo/data/surabaya/SOURCE.md",
    "geo/data/surabaya/LICENSE.cahyadsn-wilayah.txt",
    "geo/data/surabaya/LICENSE.cahyadsn-wilayah_boundaries.txt",
    "geo/data/surabaya/LICENSE.edwardsamuel-Wilayah-Administratif-Indonesia.txt",
]
RUNTIME = ["strawberry-graphql", "starlette", "uvicorn", "SQLAlchemy", "GeoAlchemy2", "asyncpg",
           "shapely", "alembic"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` of a copy of the sources: a build in the tree would leave `build/`
    behind, whose stale files later wheels would pick up."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for item in ROOT.iterdir():
        if item.is_file():
            shutil.copy2(item, src / item.name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "out"),
                    str(src)], check=True, cwd=src, capture_output=True)
    (built,) = (tmp / "out").glob("jangkau-*.whl")
    return built


def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        (path,) = [n for n in z.namelist() if n.endswith(f".dist-info/{name}")]
        return z.read(path).decode()


def test_wheel_has_the_migrations_data_and_licences(wheel: Path) -> None:
    assert [f for f in REQUIRED if f not in names(wheel)] == []


def test_wheel_has_every_module_and_no_tests(wheel: Path) -> None:
    modules = {p.relative_to(ROOT).as_posix() for package in PACKAGES
               for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(modules - names(wheel)) == []
    assert not any(n.startswith("tests/") for n in names(wheel))


def test_wheel_declares_the_command_and_bounded_dependencies(wheel: Path) -> None:
    assert re.search(r"^jangkau = graph\.cli:main$", dist_info(wheel, "entry_points.txt"), re.M)
    requires = [line.removeprefix("Requires-Dist: ") for line in
                dist_info(wheel, "METADATA").splitlines() if line.startswith("Requires-Dist: ")]
    runtime = [r for r in requires if "extra ==" not in r]
    declared = {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in runtime}
    assert {n.lower() for n in RUNTIME} <= declared
    unbounded = [r for r in requires if not ("<" in r and ">=" in r)]
    assert unbounded == []


async def test_unpacked_wheel_migrates_and_finds_its_data(wheel: Path, empty_db_url: str,
                                                          tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    # -S: no .pth files, so the editable install of this tree cannot fill in what the wheel lacks.
    script = (
        "import sys, geo, graph.app, graph.schema\n"
        "from geo import migrate\n"
        "from geo.demo import BOUNDARY_FILES\n"
        "outside = [m.__file__ for n, m in list(sys.modules.items())\n"
        "           if n.split('.')[0] in ('geo', 'graph') and getattr(m, '__file__', None)\n"
        f"           and not m.__file__.startswith({str(site)!r})]\n"
        "assert outside == [], outside\n"
        "assert all(p.is_file() for p in BOUNDARY_FILES)\n"
        "migrate.upgrade(sys.argv[1])\n"
        "print(migrate.head())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-S", "-c", script, empty_db_url, cwd=tmp_path,
        env={"PYTHONPATH": f"{site}:{sysconfig.get_path('purelib')}", "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == migrate.head()

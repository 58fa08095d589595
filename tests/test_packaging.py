"""The wheel carries what an installed `jangkau` needs at run time: every module, the migrations,
the boundary files with their licences, the map page and GraphiQL with their npm-vendored
scripts, and bounded dependencies; unpacked, it migrates; installed, it serves the map and
GraphiQL from itself."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from geo import migrate
from graph import assets

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
    for name in assets.bundle():        # web/ after `npm ci`: only what the build may take
        (src / "web" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "web" / name, src / "web" / name)
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


def test_wheel_has_the_pages_and_their_vendored_scripts(wheel: Path) -> None:
    inside = {n.removeprefix("graph/webroot/") for n in names(wheel)
              if n.startswith("graph/webroot/")}
    assert inside == set(assets.bundle())
    assert "node_modules/graphiql/graphiql.min.js" in inside
    assert "node_modules/react-dom/LICENSE" in inside


def test_sdist_manifest_takes_every_bundled_file() -> None:
    """`python -m build` makes the wheel from the sdist: MANIFEST.in must carry web/'s files."""
    patterns = [p for line in (ROOT / "MANIFEST.in").read_text().splitlines()
                if line.startswith("include ") for p in line.split()[1:]]
    assert [f for f in assets.bundle()
            if not any(fnmatch.fnmatch(f"web/{f}", p) for p in patterns)] == []


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


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its dependencies are borrowed from the test venv
    by a plain path line (no .pth of that venv runs, so the checkout cannot fill any gap)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([venv / "bin" / "python", "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    return venv


@pytest.fixture
async def served(installed: Path, db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """`jangkau serve` of the installed package, run away from the checkout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "DATABASE_URL": db_url,
           "JANGKAU_HOME": str(tmp_path), "HOME": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        str(installed / "bin" / "jangkau"), "serve", "--port", str(port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the installed `jangkau serve` did not answer")
        yield base
    finally:
        proc.terminate()
        await proc.wait()


async def test_installed_package_serves_the_map_and_graphiql(served: str,
                                                             installed: Path) -> None:
    assert "JANGKAU_WEB_DIR" not in os.environ
    async with httpx.AsyncClient(base_url=served) as http:
        page = await http.get("/")
        assert page.status_code == 200 and 'id="map"' in page.text
        ide = await http.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 200 and "script-src 'self'" in ide.headers[
            "content-security-policy"]
        sources = re.findall(r'(?:src|href)="(/[^"]*)"', page.text + ide.text)
        assert "/vendor/graphiql/graphiql.min.js" in sources
        assert "/vendor/maplibre-gl/maplibre-gl.js" in sources
        for src in sources:
            r = await http.get(src)
            assert (r.status_code, len(r.content) > 100) == (200, True), src
        # The answers come from the installed copy: same bytes as the wheel's.
        installed_js = next(installed.rglob("graph/webroot/node_modules/graphiql/graphiql.min.js"))
        assert (await http.get("/vendor/graphiql/graphiql.min.js")).content == \
            installed_js.read_bytes()

"""The build puts the map page, GraphiQL and their npm-vendored scripts inside the package.

Everything else is declared in pyproject.toml. `graph/assets.py` names the files; they are
copied from `web/` (after `npm ci --prefix web`) to `graph/webroot/` in the wheel; MANIFEST.in
puts them in the sdist, so that a wheel built from it (`python -m build`) carries them too.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _assets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jangkau_assets", ROOT / "graph" / "assets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _web_files() -> list[str]:
    files: list[str] = _assets().bundle()
    missing = [f for f in files if not (ROOT / "web" / f).is_file()]
    if missing:
        raise SystemExit(f"web/ lacks {', '.join(missing)}: run `npm ci --prefix web` first")
    return files


class BuildWithWeb(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:      # an editable install serves web/ of the checkout itself
            return
        target = Path(self.build_lib) / "graph" / "webroot"
        for name in _web_files():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / "web" / name, target / name)


setup(cmdclass={"build_py": BuildWithWeb})

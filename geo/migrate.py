"""Schema migrations through Alembic, configured in code so an installed package can migrate.

Alembic's environment runs its own event loop: call these from synchronous code, or from
async code through `asyncio.to_thread`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from geo.db import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, copy_rows: int | None = None,
            copy_pause_s: float | None = None) -> None:
    """Migrate up. `copy_rows` and `copy_pause_s` pace an online copy (0011: rows a committed
    batch, seconds between batches); the migration's defaults when None."""
    cfg = _config(url)
    if copy_rows is not None:
        cfg.attributes["copy_rows"] = copy_rows
    if copy_pause_s is not None:
        cfg.attributes["copy_pause_s"] = copy_pause_s
    command.upgrade(cfg, revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)


@cache
def head() -> str:
    """The newest revision this code knows (read from the scripts once per process)."""
    rev = ScriptDirectory.from_config(_config("postgresql://x/y")).get_current_head()
    assert rev is not None
    return rev

"""Settings, read from the environment when asked, never at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 54329


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) / "jangkau" if xdg else Path.home() / ".local" / "share" / "jangkau"


@dataclass(frozen=True)
class Settings:
    """Everything the service and the CLI need to know about their surroundings.

    `database_url` is None when the private cluster should be used (see `geo.cluster`).
    """

    database_url: str | None = None
    home: Path = Path(".jangkau")
    cluster_port: int = DEFAULT_PORT
    statement_timeout_ms: int = 15_000
    pool_size: int = 10
    max_first: int = 500
    max_batch: int = 1_000
    max_period_days: int = 400
    max_within_vertices: int = 5_000
    debug: bool = False
    graphiql: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            database_url=e.get("DATABASE_URL") or None,
            home=Path(e["JANGKAU_HOME"]) if e.get("JANGKAU_HOME") else _default_home(),
            cluster_port=int(e.get("JANGKAU_PG_PORT", DEFAULT_PORT)),
            statement_timeout_ms=int(e.get("JANGKAU_STATEMENT_TIMEOUT_MS", 15_000)),
            pool_size=int(e.get("JANGKAU_POOL_SIZE", 10)),
            max_first=int(e.get("JANGKAU_MAX_FIRST", 500)),
            max_batch=int(e.get("JANGKAU_MAX_BATCH", 1_000)),
            max_period_days=int(e.get("JANGKAU_MAX_PERIOD_DAYS", 400)),
            max_within_vertices=int(e.get("JANGKAU_MAX_WITHIN_VERTICES", 5_000)),
            debug=e.get("JANGKAU_DEBUG", "").lower() in {"1", "true", "yes"},
            graphiql=e.get("JANGKAU_GRAPHIQL", "1").lower() in {"1", "true", "yes"},
        )

    def resolved_database_url(self) -> str:
        """The URL to connect to: DATABASE_URL, else the private cluster's."""
        if self.database_url:
            return self.database_url
        return f"postgresql://postgres@127.0.0.1:{self.cluster_port}/jangkau"

"""Settings, read from the environment when asked, never at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geo.errors import BadInput

DEFAULT_PORT = 54329
PUBLIC_LEVELS = ("CITY", "KECAMATAN", "KELURAHAN")   # coarse to fine


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) / "jangkau" if xdg else Path.home() / ".local" / "share" / "jangkau"


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def public_level(value: str) -> str | None:
    """JANGKAU_PUBLIC_LEVEL: `none` (the default), or the finest level served without a token."""
    level = value.strip().upper()
    if level in ("", "NONE"):
        return None
    if level not in PUBLIC_LEVELS:
        raise BadInput(f"JANGKAU_PUBLIC_LEVEL must be none, {', '.join(PUBLIC_LEVELS)}; "
                         f"got {value!r:.30}")
    return level


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise BadInput(f"{name} must be a number of seconds above 0, got {raw!r:.30}")
    return value


def log_format(value: str) -> str:
    """JANGKAU_LOG_FORMAT: `text` (the default) or `json` (one JSON object a line)."""
    fmt = value.strip().lower() or "text"
    if fmt not in ("text", "json"):
        raise BadInput(f"JANGKAU_LOG_FORMAT must be text or json; got {value!r:.30}")
    return fmt


@dataclass(frozen=True)
class Settings:
    """Everything the service and the CLI need to know about their surroundings.

    `database_url` is None when the private cluster should be used (see `geo.cluster`).
    """

    database_url: str | None = None
    home: Path = Path(".jangkau")
    # The map page's and GraphiQL's files with their npm-vendored scripts: None for the package's
    # own copy (or `web/` of a checkout, see graph.assets); JANGKAU_WEB_DIR to serve others.
    web_dir: Path | None = None
    cluster_port: int = DEFAULT_PORT
    # Time bounds (docs/OPERATIONS.md): each below the request bound, so the specific cause
    # answers first and the bound is only the last resort when the database is frozen.
    statement_timeout_ms: int = 8_000
    connect_timeout_s: float = 3.0
    pool_timeout_s: float = 3.0
    request_timeout_s: float = 10.0
    ready_timeout_s: float = 1.5
    # Read replicas (geo.replicas): read-only requests go to one that is up and not lagging.
    read_urls: tuple[str, ...] = ()
    pgbouncer: bool = False                 # DATABASE_URL is a PgBouncer in transaction mode
    max_replica_lag_s: float = 5.0
    # HTTP hygiene: slow clients are cut off, shutdown lets requests finish (graph.cli serve).
    header_timeout_s: float = 5.0
    body_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    shutdown_timeout_s: float = 10.0
    log_format: str = "text"                # or "json": one JSON object a line
    pool_size: int = 10
    partition_months_ahead: int = 3         # activities partitions kept ahead (geo.partitions)
    max_first: int = 500
    max_batch: int = 1_000
    max_period_days: int = 400
    max_within_vertices: int = 5_000
    # Limits on a GraphQL request (see graph.limits and docs/SECURITY.md).
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 25_000
    max_body_bytes: int = 1_048_576
    persisted_queries: Path | None = None   # a JSON map sha256 -> query: only those run
    introspection: bool = True
    hexbin_min_count: int = 1
    max_subscriptions: int = 20             # open live subscriptions per caller
    # LISTEN needs a session of its own on the primary: set it when DATABASE_URL is a pooler.
    listen_url: str | None = None
    debug: bool = False
    graphiql: bool = True
    # Plausibility flags (see geo.plausibility): what makes a record worth a second look.
    flag_max_accuracy_m: float = 100.0
    flag_max_speed_kmh: float = 120.0
    flag_future_tolerance_s: float = 300.0
    flag_burst_count: int = 5
    flag_burst_minutes: float = 10.0
    flag_burst_radius_m: float = 50.0
    flag_border_m: float = 100.0            # outside an assigned area by more than this + accuracy
    flag_reach_kmh: float = 45.0            # straight-line city travel between visits, at most
    flag_reach_min_m: float = 1500.0        # ... judged beyond this distance only
    flag_day_start_h: float = 6.0           # WIB working hours (and never on a Sunday)
    flag_day_end_h: float = 19.0
    flag_static_count: int = 5              # a day of this many records or more,
    flag_static_hours: float = 3.0          # spread over this many hours,
    flag_static_radius_m: float = 25.0      # all within this of one spot
    flag_backdate_count: int = 3            # this many records entered together,
    flag_backdate_minutes: float = 15.0     # within this many minutes of each other,
    flag_backdate_lag_h: float = 1.0        # each more than this after its visit began
    flag_copy_days: int = 7                 # identical coordinates this close in days: a copy
    # Who is asking (graph.auth, docs/SECURITY.md). No key configured: every token is refused.
    jwt_secret: str | None = field(default=None, repr=False)   # HS256, for development
    jwt_public_key: Path | None = None      # PEM file: RS256 / ES256
    jwks_file: Path | None = None           # a JSON Web Key Set file: RS256 / ES256 by `kid`
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] = ()    # empty: HS256 with a secret, RS256/ES256 with keys
    public_level: str | None = None         # aggregates served without a token: none by default
    k_anonymity: int = 3                    # fewer distinct staff than this: identity suppressed

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            database_url=e.get("DATABASE_URL") or None,
            home=Path(e["JANGKAU_HOME"]) if e.get("JANGKAU_HOME") else _default_home(),
            web_dir=_path(e.get("JANGKAU_WEB_DIR")),
            cluster_port=int(e.get("JANGKAU_PG_PORT", DEFAULT_PORT)),
            statement_timeout_ms=int(e.get("JANGKAU_STATEMENT_TIMEOUT_MS", 8_000)),
            connect_timeout_s=_seconds(e, "JANGKAU_CONNECT_TIMEOUT_S", 3.0),
            pool_timeout_s=_seconds(e, "JANGKAU_POOL_TIMEOUT_S", 3.0),
            request_timeout_s=_seconds(e, "JANGKAU_REQUEST_TIMEOUT_S", 10.0),
            ready_timeout_s=_seconds(e, "JANGKAU_READY_TIMEOUT_S", 1.5),
            read_urls=tuple(u.strip() for u in e.get("JANGKAU_READ_URLS", "").split(",")
                            if u.strip()),
            max_replica_lag_s=_seconds(e, "JANGKAU_MAX_REPLICA_LAG", 5.0),
            pgbouncer=e.get("JANGKAU_PGBOUNCER", "").lower() in {"1", "true", "yes"},
            header_timeout_s=_seconds(e, "JANGKAU_HEADER_TIMEOUT_S", 5.0),
            body_timeout_s=_seconds(e, "JANGKAU_BODY_TIMEOUT_S", 10.0),
            keep_alive_s=_seconds(e, "JANGKAU_KEEP_ALIVE_S", 5.0),
            shutdown_timeout_s=_seconds(e, "JANGKAU_SHUTDOWN_TIMEOUT_S", 10.0),
            log_format=log_format(e.get("JANGKAU_LOG_FORMAT", "text")),
            pool_size=int(e.get("JANGKAU_POOL_SIZE", 10)),
            partition_months_ahead=int(e.get("JANGKAU_PARTITION_MONTHS_AHEAD", 3)),
            max_first=int(e.get("JANGKAU_MAX_FIRST", 500)),
            max_batch=int(e.get("JANGKAU_MAX_BATCH", 1_000)),
            max_period_days=int(e.get("JANGKAU_MAX_PERIOD_DAYS", 400)),
            max_within_vertices=int(e.get("JANGKAU_MAX_WITHIN_VERTICES", 5_000)),
            max_depth=int(e.get("JANGKAU_MAX_DEPTH", 12)),
            max_aliases=int(e.get("JANGKAU_MAX_ALIASES", 30)),
            max_tokens=int(e.get("JANGKAU_MAX_TOKENS", 2_000)),
            max_cost=int(e.get("JANGKAU_MAX_COST", 25_000)),
            max_body_bytes=int(e.get("JANGKAU_MAX_BODY_BYTES", 1_048_576)),
            persisted_queries=Path(e["JANGKAU_PERSISTED_QUERIES"])
            if e.get("JANGKAU_PERSISTED_QUERIES") else None,
            introspection=e.get("JANGKAU_INTROSPECTION", "1").lower() in {"1", "true", "yes"},
            hexbin_min_count=int(e.get("JANGKAU_HEXBIN_MIN_COUNT", 1)),
            max_subscriptions=int(e.get("JANGKAU_MAX_SUBSCRIPTIONS", 20)),
            listen_url=e.get("JANGKAU_LISTEN_URL") or None,
            debug=e.get("JANGKAU_DEBUG", "").lower() in {"1", "true", "yes"},
            graphiql=e.get("JANGKAU_GRAPHIQL", "1").lower() in {"1", "true", "yes"},
            flag_max_accuracy_m=float(e.get("JANGKAU_FLAG_MAX_ACCURACY_M", 100.0)),
            flag_max_speed_kmh=float(e.get("JANGKAU_FLAG_MAX_SPEED_KMH", 120.0)),
            flag_future_tolerance_s=float(e.get("JANGKAU_FLAG_FUTURE_TOLERANCE_S", 300.0)),
            flag_burst_count=int(e.get("JANGKAU_FLAG_BURST_COUNT", 5)),
            flag_burst_minutes=float(e.get("JANGKAU_FLAG_BURST_MINUTES", 10.0)),
            flag_burst_radius_m=float(e.get("JANGKAU_FLAG_BURST_RADIUS_M", 50.0)),
            flag_border_m=float(e.get("JANGKAU_FLAG_BORDER_M", 100.0)),
            flag_reach_kmh=float(e.get("JANGKAU_FLAG_REACH_KMH", 45.0)),
            flag_reach_min_m=float(e.get("JANGKAU_FLAG_REACH_MIN_M", 1500.0)),
            flag_day_start_h=float(e.get("JANGKAU_FLAG_DAY_START_H", 6.0)),
            flag_day_end_h=float(e.get("JANGKAU_FLAG_DAY_END_H", 19.0)),
            flag_static_count=int(e.get("JANGKAU_FLAG_STATIC_COUNT", 5)),
            flag_static_hours=float(e.get("JANGKAU_FLAG_STATIC_HOURS", 3.0)),
            flag_static_radius_m=float(e.get("JANGKAU_FLAG_STATIC_RADIUS_M", 25.0)),
            flag_backdate_count=int(e.get("JANGKAU_FLAG_BACKDATE_COUNT", 3)),
            flag_backdate_minutes=float(e.get("JANGKAU_FLAG_BACKDATE_MINUTES", 15.0)),
            flag_backdate_lag_h=float(e.get("JANGKAU_FLAG_BACKDATE_LAG_H", 1.0)),
            flag_copy_days=int(e.get("JANGKAU_FLAG_COPY_DAYS", 7)),
            jwt_secret=e.get("JANGKAU_JWT_SECRET") or None,
            jwt_public_key=_path(e.get("JANGKAU_JWT_PUBLIC_KEY")),
            jwks_file=_path(e.get("JANGKAU_JWKS_FILE")),
            jwt_issuer=e.get("JANGKAU_JWT_ISSUER") or None,
            jwt_audience=e.get("JANGKAU_JWT_AUDIENCE") or None,
            jwt_algorithms=tuple(a.strip() for a in e.get("JANGKAU_JWT_ALGORITHMS", "").split(",")
                                 if a.strip()),
            public_level=public_level(e.get("JANGKAU_PUBLIC_LEVEL", "none")),
            k_anonymity=int(e.get("JANGKAU_K_ANONYMITY", 3)),
        )

    def resolved_database_url(self) -> str:
        """The URL to connect to: DATABASE_URL, else the private cluster's."""
        if self.database_url:
            return self.database_url
        return f"postgresql://postgres@127.0.0.1:{self.cluster_port}/jangkau"

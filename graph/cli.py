"""The `jangkau` command: database, boundaries, demo data, development tokens and the server."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import cluster, migrate
from geo.boundaries import import_areas
from geo.database import ensure_database, private_cluster
from geo.db import connect
from geo.demo import load_demo
from geo.errors import JangkauError
from geo.settings import Settings
from graph.auth import ROLES, Verifier, mint
from graph.cli_keys import keys_app

app = typer.Typer(help="Jangkau: field service reach of Surabaya's civil servants.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database: migrations and the private cluster.", no_args_is_help=True)
areas_app = typer.Typer(help="Administrative boundaries.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(areas_app, name="areas")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
T = TypeVar("T")


def _with_db(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    url = ensure_database(settings)

    async def run() -> T:
        async with connect(url) as conn:
            return await work(conn)

    return asyncio.run(run())


def _migrate(settings: Settings) -> str:
    url = ensure_database(settings)
    migrate.upgrade(url)
    return url


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate DATABASE_URL (or the private cluster) to REVISION."""
    url = ensure_database(Settings.from_env())
    migrate.upgrade(url, revision)
    console.print(f"[green]migrated[/] to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (`base` empties the database)."""
    migrate.downgrade(ensure_database(Settings.from_env()), revision)
    console.print(f"[green]migrated down[/] to {revision}")


@db_app.command("start")
def db_start() -> None:
    """Start the private PostgreSQL + PostGIS cluster (creating it the first time)."""
    s = Settings.from_env()
    c = private_cluster(s)
    cluster.start(c)
    console.print(f"private database running: {s.resolved_database_url()} (data in {c.data_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the private cluster."""
    cluster.stop(private_cluster(Settings.from_env()))
    console.print("private database stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the private cluster is running."""
    s = Settings.from_env()
    running = cluster.status(private_cluster(s))
    state = "running on port " + str(s.cluster_port) if running else "stopped"
    console.print(f"private database: {state}")
    if s.database_url:
        console.print("DATABASE_URL is set: the service uses that database, not the private one")
    raise typer.Exit(0 if running else 3)


@areas_app.command("import")
def areas_import(files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import (or update in place) areas from GeoJSON FeatureCollections, all or nothing."""
    s = Settings.from_env()
    _migrate(s)
    report = _with_db(s, lambda conn: import_areas(conn, files))
    for note in report.repairs:
        console.print(f"[yellow]repaired[/] {note}")
    console.print(f"[green]imported[/] {report.inserted} new, {report.updated} updated areas; "
                  f"{report.reassigned_activities} activities re-assigned")


def _load_demo(s: Settings, activities: int, seed: int, until: date | None) -> int:
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("activities", total=activities)
        return _with_db(s, lambda conn: load_demo(
            conn, activities, seed, until, progress=lambda n: bar.advance(task, n)))


@demo_app.command("load")
def demo_load(
    activities: Annotated[int, typer.Option(min=0, help="How many activities")] = 100_000,
    seed: Annotated[int, typer.Option(help="Same seed, same rows")] = 42,
    until: Annotated[str | None, typer.Option(help="Last day (WIB), default yesterday")] = None,
) -> None:
    """Load the real boundaries (if missing), units, staff, targets and N activities."""
    s = Settings.from_env()
    _migrate(s)
    inserted = _load_demo(s, activities, seed, date.fromisoformat(until) if until else None)
    console.print(f"[green]loaded[/] {inserted} activities")


@app.command()
def token(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    sub: Annotated[str | None, typer.Option(
        help="The staff member's UUID (required for staff and supervisor)")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit code (admin may omit it)")] = None,
    ttl: Annotated[int, typer.Option(help="Seconds until it expires")] = 3600,
) -> None:
    """Print a development token signed with JANGKAU_JWT_SECRET (HS256)."""
    s = Settings.from_env()
    if not s.jwt_secret:
        raise JangkauError("JANGKAU_JWT_SECRET is not set: development tokens are signed with "
                           "it, and the server must have the same one. In production, tokens "
                           "come from your identity provider (see docs/SECURITY.md).")
    Verifier(s)     # the same checks of the secret as the server's
    if sub is None and role in ("staff", "supervisor"):
        raise JangkauError(f"a {role} token needs --sub: the staff member's UUID")
    typer.echo(mint(s.jwt_secret, role=role, sub=sub or str(uuid.uuid4()), unit=unit, ttl_s=ttl,
                    issuer=s.jwt_issuer, audience=s.jwt_audience))


def _development_auth(s: Settings) -> None:
    """`jangkau up` works out of the box: a development secret kept in JANGKAU_HOME (unless
    JANGKAU_JWT_SECRET is set), kelurahan figures public unless JANGKAU_PUBLIC_LEVEL says
    otherwise, and an admin token for GraphiQL and the map page."""
    if not s.jwt_secret:
        path = s.home / "dev-jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        os.environ["JANGKAU_JWT_SECRET"] = path.read_text().strip()
        console.print(f"development JWT secret: {path} (set JANGKAU_JWT_SECRET to use your own)")
    os.environ.setdefault("JANGKAU_PUBLIC_LEVEL", "KELURAHAN")
    s = Settings.from_env()
    admin = mint(s.jwt_secret or "", role="admin", sub="dev-admin", ttl_s=12 * 3600,
                 issuer=s.jwt_issuer, audience=s.jwt_audience)
    console.print(f"public without a token: {s.public_level or 'nothing'} figures and coarser.\n"
                  "Admin token for 12 hours (GraphiQL header `Authorization: Bearer <token>`, "
                  "or the map page's Token field):")
    console.print(admin, soft_wrap=True)     # on one line, whatever the width: to copy whole


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the GraphQL API (and the map) under uvicorn."""
    import uvicorn

    from graph.app import create_app

    s = Settings.from_env()
    url = ensure_database(s)
    if not s.database_url:
        s = Settings(**{**s.__dict__, "database_url": url})
    if not Verifier(s).configured:
        console.print("[yellow]no JANGKAU_JWT_SECRET, JANGKAU_JWT_PUBLIC_KEY or JANGKAU_JWKS_FILE:"
                      "[/] every token is refused; only public figures are served")
    console.print(f"Jangkau on http://{host}:{port}/  (GraphQL: http://{host}:{port}/graphql)")
    uvicorn.run(create_app(s), host=host, port=port, log_level="info", loop="uvloop",
                http="httptools", access_log=False)


@app.command()
def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    activities: Annotated[int, typer.Option(help="Demo activities when the database is empty",
                                            envvar="JANGKAU_DEMO_ACTIVITIES")] = 100_000,
) -> None:
    """Everything a newcomer needs: database, migrations, demo data when empty, then serve."""
    s = Settings.from_env()
    _migrate(s)
    empty = _with_db(
        s, lambda conn: conn.scalar(text("SELECT NOT EXISTS (SELECT 1 FROM activities)")))
    if empty:
        console.print(f"loading demo data: real Surabaya boundaries and {activities} activities")
        _load_demo(s, activities, 42, None)
    _development_auth(s)
    serve(host, port)


def main() -> None:
    try:
        app()
    except JangkauError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

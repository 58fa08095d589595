"""The `jangkau` command: database, boundaries, demo data, development tokens and the server."""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import text

from geo import cluster, migrate, partitions, population, roster
from geo.boundaries import import_areas
from geo.database import ensure_database, private_cluster
from geo.demo import load_demo
from geo.errors import JangkauError
from geo.settings import Settings
from graph.auth import ROLES, Verifier, mint
from graph.cli_activities import activities_app
from graph.cli_db import with_db
from graph.cli_keys import keys_app


class NewcomerFirst(typer.core.TyperGroup):
    """`up`, the command a newcomer needs first, heads the list; the rest as defined."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(super().list_commands(ctx), key=lambda name: name != "up")


# Plain help (rich_markup_mode=None): the rich one prints `<bool>` beside flags that take no value.
app = typer.Typer(help="Jangkau: field service reach of Surabaya's civil servants.",
                  cls=NewcomerFirst, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
db_app = typer.Typer(help="The database: migrations and the private cluster.", no_args_is_help=True)
areas_app = typer.Typer(help="Administrative boundaries.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff: who works in which unit.", no_args_is_help=True)
units_app = typer.Typer(help="Units (OPD, kecamatan, ...) and how they nest.", no_args_is_help=True)
population_app = typer.Typer(help="Population by area and year (optional city data).",
                             no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(areas_app, name="areas")
areas_app.add_typer(population_app, name="population")
app.add_typer(demo_app, name="demo")
app.add_typer(staff_app, name="staff")
app.add_typer(units_app, name="units")
app.add_typer(keys_app, name="keys")
app.add_typer(activities_app, name="activities")
console = Console(stderr=True)
DEV_SECRET = "dev-jwt-secret"   # in JANGKAU_HOME: written by `jangkau up`, read by `jangkau token`


def _migrate(settings: Settings) -> str:
    url = ensure_database(settings)
    migrate.upgrade(url)
    return url


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Alembic revision", metavar="REV")] = "head",
    copy_rows: Annotated[int, typer.Option(
        min=1, help="Rows a committed batch when activities are copied into partitions")] = 2_000,
    copy_pause: Annotated[float, typer.Option(
        min=0, help="Seconds between two such batches (to leave the disk to the service)")] = 0.0,
) -> None:
    """Migrate up to REV (default: head), in DATABASE_URL or the private cluster, online: the
    service may keep running. At head, activities' month partitions are then kept ahead."""
    settings = Settings.from_env()
    url = ensure_database(settings)
    migrate.upgrade(url, revision, copy_rows=copy_rows, copy_pause_s=copy_pause)
    console.print(f"[green]migrated[/] to {revision}")
    if revision == "head":
        created = with_db(settings, lambda conn: partitions.ensure_ahead(
            conn, settings.partition_months_ahead))
        console.print(f"activities partitions: {created} month(s) created, "
                      f"{settings.partition_months_ahead} kept ahead")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(
        help="Alembic revision, or base", metavar="REV")]) -> None:
    """Migrate down to REV (`base` empties the database)."""
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
    report = with_db(s, lambda conn: import_areas(conn, files))
    for note in report.repairs:
        console.print(f"[yellow]repaired[/] {escape(note)}")
    console.print(f"[green]imported[/] {report.inserted} new, {report.updated} updated areas; "
                  f"{report.reassigned_activities} activities re-assigned")


@population_app.command("import")
def population_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
) -> None:
    """Import population figures from a UTF-8 CSV with columns code, population, year (one row
    per area and year; an existing figure is replaced), all or nothing."""
    s = Settings.from_env()
    _migrate(s)
    count = with_db(s, lambda conn: population.import_file(conn, file))
    console.print(f"[green]imported[/] {count} population figures")


def _load_demo(s: Settings, activities: int, seed: int, until: date | None,
               staff: int | None = None) -> int:
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("activities", total=activities)
        return with_db(s, lambda conn: load_demo(
            conn, activities, seed, until, staff, progress=lambda n: bar.advance(task, n)))


@demo_app.command("load")
def demo_load(
    activities: Annotated[int, typer.Option(min=0, help="How many activities")] = 100_000,
    seed: Annotated[int, typer.Option(help="Same seed, same rows")] = 42,
    until: Annotated[str | None, typer.Option(help="Last day (WIB), YYYY-MM-DD", metavar="DATE",
                                              show_default="yesterday")] = None,
    staff: Annotated[int | None, typer.Option(
        min=1, help="How many staff share them (a large load keeps each person's day "
                    "realistic with more)", show_default="one per 250 activities, 40 to 2,000")
    ] = None,
) -> None:
    """Load the real boundaries (if missing), units, staff, targets and N activities."""
    s = Settings.from_env()
    _migrate(s)
    inserted = _load_demo(s, activities, seed, date.fromisoformat(until) if until else None,
                          staff)
    console.print(f"[green]loaded[/] {inserted} activities")


def _signing_settings() -> Settings:
    """JANGKAU_JWT_SECRET, else the development secret `jangkau up` keeps in JANGKAU_HOME."""
    s = Settings.from_env()
    if s.jwt_secret:
        return s
    path = s.home / DEV_SECRET
    if not path.is_file():
        raise JangkauError(f"JANGKAU_JWT_SECRET is not set and there is no development secret "
                           f"in {path} yet: `make up` writes one, or set JANGKAU_JWT_SECRET to "
                           "the server's. In production, tokens come from your identity "
                           "provider (see docs/SECURITY.md).")
    console.print(f"signed with the development secret in {path}")
    return replace(s, jwt_secret=path.read_text().strip())


@app.command()
def token(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    unit: Annotated[str | None, typer.Option(
        help="Unit code; for staff and supervisor, a person of it is picked")] = None,
    nip: Annotated[str | None, typer.Option(
        help="Mint for the staff member with this NIP (staff and supervisor)")] = None,
    sub: Annotated[str | None, typer.Option(
        help="The staff member's UUID, as `jangkau staff list` shows it")] = None,
    ttl: Annotated[int, typer.Option(help="Seconds until it expires")] = 3600,
    areas: Annotated[str | None, typer.Option(
        help="Supervisors: comma-separated kecamatan/kelurahan codes they see all units' "
             "figures of")] = None,
) -> None:
    """Print a development token (HS256) for a role, a unit or a person.

    `jangkau token --role supervisor --unit DINKES` picks a person of DINKES and says who.
    """
    s = _signing_settings()
    Verifier(s)     # the same checks of the secret as the server's
    if sub is None and role in ("staff", "supervisor"):
        if unit is None and nip is None:
            raise JangkauError(f"a {role} token is for a person: give --unit CODE (a person of "
                               "it is picked), --nip NIP or --sub UUID")
        person = with_db(s, lambda conn: roster.pick(conn, unit, nip))
        sub, unit = str(person.id), person.unit_code
        console.print(f"a {role} token for {escape(person.name)} of {person.unit_code} "
                      f"(staff id {person.id})")
    typer.echo(mint(s.jwt_secret or "", role=role, sub=sub or str(uuid.uuid4()), unit=unit,
                    ttl_s=ttl, issuer=s.jwt_issuer, audience=s.jwt_audience,
                    areas=[a.strip() for a in areas.split(",")] if areas else None))


@staff_app.command("list")
def staff_list(unit: Annotated[str | None, typer.Option(
        help="Only this unit and the units below it")] = None) -> None:
    """Staff id, unit and name (for `jangkau token --sub`); the NIP is not shown."""
    rows = with_db(Settings.from_env(), lambda conn: roster.staff(conn, unit))
    for r in rows:
        typer.echo(f"{r.id}  {r.unit_code:<16} {r.name}{'' if r.active else '  (inactive)'}")
    console.print(f"{len(rows)} staff")


@units_app.command("list")
def units_list() -> None:
    """Unit code, kind, parent, active staff and name."""
    rows = with_db(Settings.from_env(), roster.units)
    for u in rows:
        typer.echo(f"{u.code:<16} {u.kind:<10} {u.parent_code or '-':<16} {u.staff:>5}  {u.name}")
    console.print(f"{len(rows)} units (code, kind, parent, active staff, name)")


def _development_auth(s: Settings) -> None:
    """`jangkau up` works out of the box: a development secret kept in JANGKAU_HOME (unless
    JANGKAU_JWT_SECRET is set), kelurahan figures public unless JANGKAU_PUBLIC_LEVEL says
    otherwise, and an admin token for GraphiQL and the map page."""
    if not s.jwt_secret:
        path = s.home / DEV_SECRET
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
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="Server processes sharing the port")] = 1,
          ) -> None:
    """Serve the GraphQL API (and the map) under uvicorn (limits: docs/OPERATIONS.md)."""
    from graph import serving

    if workers < 1:
        raise JangkauError("--workers must be at least 1")
    s = Settings.from_env()
    # Every server process reads its settings from the environment: the private cluster's URL
    # (started here, once) goes there too.
    os.environ["DATABASE_URL"] = ensure_database(s)
    if not Verifier(s).configured:
        console.print("[yellow]no JANGKAU_JWT_SECRET, JANGKAU_JWT_PUBLIC_KEY or JANGKAU_JWKS_FILE:"
                      "[/] every token is refused; only public figures are served")
    console.print(f"Jangkau on http://{host}:{port}/  (GraphQL: http://{host}:{port}/graphql)")
    serving.run(s, host, port, workers)


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
    empty = with_db(
        s, lambda conn: conn.scalar(text("SELECT NOT EXISTS (SELECT 1 FROM activities)")))
    if empty:
        console.print(f"loading demo data: real Surabaya boundaries and {activities} activities")
        _load_demo(s, activities, 42, None)
    _development_auth(s)
    try:
        serve(host, port)
    finally:
        if not s.database_url:
            console.print(f"The private database keeps running (port {s.cluster_port}, data in "
                          f"{private_cluster(s).data_dir}): `make down` or `jangkau down` "
                          "stops it.")


@app.command()
def down() -> None:
    """Stop the private database that `make up` started (DATABASE_URL's is left alone)."""
    s = Settings.from_env()
    c = private_cluster(s)
    if not cluster.status(c):
        console.print("the private database is not running")
    else:
        cluster.stop(c)
        console.print("private database stopped")
    if s.database_url:
        console.print("DATABASE_URL is set: that database is not Jangkau's to stop")


def main() -> None:
    try:
        app()
    except JangkauError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

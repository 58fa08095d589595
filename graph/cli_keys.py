"""`jangkau keys create | list | revoke`: API keys for GIS tools and scripts (geo.api_keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import api_keys
from geo.database import ensure_database
from geo.db import connect
from geo.errors import BadInput
from geo.settings import Settings

keys_app = typer.Typer(help="API keys for QGIS, GDAL and scripts (read-only).",
                       no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")


def _run(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    url = ensure_database(Settings.from_env())

    async def run() -> T:
        async with connect(url) as conn:
            result = await work(conn)
            await conn.commit()
            return result

    return asyncio.run(run())


def _describe(k: api_keys.KeyRow) -> str:
    state = "revoked" if k.revoked_at else f"until {k.expires}" if k.expires else "no expiry"
    areas = f" areas={','.join(k.areas)}" if k.areas else ""
    return f"{k.id}  {k.prefix}…  {k.role} unit={k.unit}{areas}  {state}  {k.name!r}"


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="planner or supervisor")],
    unit: Annotated[str, typer.Option(help="the unit code whose scope the key carries")],
    name: Annotated[str, typer.Option(help='who uses it, e.g. "QGIS Bappeda"')],
    areas: Annotated[list[str] | None, typer.Option(
        help="confine the key to these area codes (repeat the option)")] = None,
    expires: Annotated[str | None, typer.Option(
        help="the last WIB day it works, YYYY-MM-DD")] = None,
) -> None:
    """Make a key and print it once: only its hash is stored."""
    try:
        until = datetime.strptime(expires, "%Y-%m-%d").date() if expires else None
    except ValueError:
        raise BadInput(f"--expires must be a date like 2027-06-30, got {expires!r:.30}") from None
    key, row = _run(lambda conn: api_keys.create(conn, name=name, role=role, unit=unit,
                                                 areas=areas or (), expires=until))
    console.print(f"created {_describe(row)}\nThe key (shown once; send it as X-API-Key or "
                  "`?key=` on /ogc and /tiles):")
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """Every key: id, prefix, role, unit, areas, state and name (never the key)."""
    for row in _run(api_keys.listing):
        typer.echo(_describe(row))


@keys_app.command("revoke")
def revoke(which: Annotated[str, typer.Argument(help="the key's id, prefix or name")]) -> None:
    """Refuse the key from the next request on."""
    row = _run(lambda conn: api_keys.revoke(conn, which))
    console.print(f"[green]revoked[/] {_describe(row)}")

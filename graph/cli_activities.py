"""`jangkau activities archive | restore | forget-figures | archives | check-rollups`: old
months out to a file and back (geo.archive; docs/OPERATIONS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geo import archive
from geo.settings import Settings
from graph.cli_db import with_db

activities_app = typer.Typer(help="Activities: archive old months to a file, restore them.",
                             no_args_is_help=True)
console = Console(stderr=True)


def _months(moved: archive.Moved) -> str:
    return ", ".join(archive.month_text(m) for m in moved.months)


def _dependents(moved: archive.Moved) -> str:
    return ", ".join(f"{n:,} {table}" for table, n in moved.dependents.items()) or "nothing else"


@activities_app.command("archive")
def archive_cmd(
    before: Annotated[str, typer.Option(help="Archive every month before this one, YYYY-MM")],
    to: Annotated[Path, typer.Option(help="The archive file to write (never overwritten)")],
    forget_figures: Annotated[bool, typer.Option(
        help="Also remove those months from the rollups (coverage, maps) now")] = False,
) -> None:
    """Detach the months before --before and dump their rows (and flag reviews) to a file;
    their figures stay in coverage and maps unless --forget-figures."""
    month = archive.parse_month(before, "--before")
    moved = with_db(Settings.from_env(), lambda conn: archive.archive(conn, month, to))
    console.print(f"[green]archived[/] {moved.activities:,} activities of {_months(moved)} "
                  f"and {_dependents(moved)} to {moved.file}")
    if forget_figures:
        forget(before)
    else:
        console.print("their figures stay in the rollups: `jangkau activities forget-figures "
                      f"--before {before}` removes them")


@activities_app.command("forget-figures")
def forget(before: Annotated[str, typer.Option(
        help="Forget the figures of archived months before this one, YYYY-MM")]) -> None:
    """Remove archived months from the rollups: their figures leave coverage and maps."""
    month = archive.parse_month(before, "--before")
    months = with_db(Settings.from_env(), lambda conn: archive.forget_figures(conn, month))
    console.print("[green]forgot[/] the figures of "
                  + ", ".join(archive.month_text(m) for m in months))


@activities_app.command("restore")
def restore_cmd(file: Annotated[Path, typer.Argument(help="An archive file")]) -> None:
    """Re-attach the months of an archive file exactly as they were, figures included."""
    moved = with_db(Settings.from_env(), lambda conn: archive.restore(conn, file))
    console.print(f"[green]restored[/] {moved.activities:,} activities of {_months(moved)} "
                  f"and {_dependents(moved)} from {moved.file}")


@activities_app.command("archives")
def archives_cmd() -> None:
    """The archived months: rows, file, and whether their figures are still kept."""
    rows = with_db(Settings.from_env(), archive.archives)
    for a in rows:
        state = (f"figures forgotten {a.figures_forgotten_at:%Y-%m-%d}"
                 if a.figures_forgotten_at else "figures kept")
        typer.echo(f"{archive.month_text(a.month)}  {a.rows:>10,}  {state:<28} {a.file}")
    console.print(f"{len(rows)} archived months")


@activities_app.command("check-rollups")
def check_rollups() -> None:
    """Compare the rollups with the activities, outside archived months whose figures are kept;
    exit 1 when they differ (`SELECT rollups_rebuild()` repairs them)."""
    drift = with_db(Settings.from_env(), archive.rollups_drift)
    if drift:
        console.print(f"[red]{drift} rollup rows differ[/] from the activities")
        raise typer.Exit(1)
    console.print("[green]the rollups are exact[/] (archived months with kept figures aside)")

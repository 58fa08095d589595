"""Run a multi-statement SQL script inside a migration.

The asyncpg dialect prepares every statement, and a prepared statement holds one command;
a plain `execute` on the driver connection uses the simple protocol, which takes a script.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    raw = op.get_bind().connection.driver_connection
    if raw is None:
        raise RuntimeError("the migration's connection has no driver connection")
    await_only(raw.execute(sql))

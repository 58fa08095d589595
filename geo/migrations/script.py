"""Run a multi-statement SQL script inside a migration.

The asyncpg dialect prepares every statement, and a prepared statement holds one command;
a plain `execute` on the driver connection uses the simple protocol, which takes a script.
A downgrade that puts back an earlier migration's function takes its text from that script.
"""

from __future__ import annotations

import re

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    raw = op.get_bind().connection.driver_connection
    if raw is None:
        raise RuntimeError("the migration's connection has no driver connection")
    await_only(raw.execute(sql))


def function_from(script: str, name: str) -> str:
    """Function `name` as `script` (an earlier migration's) creates it, as CREATE OR REPLACE:
    how a downgrade puts back the body its upgrade replaced, without restating it."""
    start = re.search(rf"CREATE (?:OR REPLACE )?FUNCTION {re.escape(name)}\(", script)
    if start is None:
        raise ValueError(f"the script creates no function {name}")
    tag = re.compile(r"AS (\$\w*\$)").search(script, start.start())
    if tag is None:
        raise ValueError(f"function {name} has no dollar-quoted body")
    end = script.index(tag.group(1), tag.end()) + len(tag.group(1))
    text = script[start.start():script.index(";", end) + 1]
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)

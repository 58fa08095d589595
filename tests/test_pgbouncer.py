"""Behind PgBouncer in transaction mode (Debian's `pgbouncer`): a client's session is not one
server session, so with JANGKAU_PGBOUNCER=1 no prepared statement is cached or reused by name,
and the session settings (jit, plan_cache_mode, statement_timeout, the flag thresholds) hold in
every transaction. Two server connections for many clients make the sharing certain."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from geo.db import create_engine
from geo.plausibility import configure_engine
from tests.conftest import Api, serve, settings_for
from tests.dbs import with_database
from tests.payloads import RECORD_ONE, activity
from tests.process import free_port

COVERAGE = """{ coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"}) {
    area { code } activities } }"""
PAGE = "{ activities(first: 5) { edges { node { id staff { name } } } } }"
LOOKUP = "query($id: ID!) { activity(id: $id) { id staff { name } } }"


@pytest.fixture
def bouncer(db_url: str) -> Iterator[str]:
    """A PgBouncer (transaction pooling, 2 server connections) in front of the test's database;
    yields the URL through it."""
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    target = urlsplit(db_url)
    home = Path(tempfile.mkdtemp(prefix="jangkau-pgbouncer-"))
    port = free_port()
    (home / "users.txt").write_text('"postgres" ""\n')
    (home / "pgbouncer.ini").write_text(f"""[databases]
* = host={target.hostname} port={target.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
""")
    pg = pwd.getpwnam("postgres")
    for p in (home, *home.iterdir()):
        os.chown(p, pg.pw_uid, pg.pw_gid)
    cmd = [exe, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:       # PgBouncer will not run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (home / "pgbouncer.log").read_text()
            time.sleep(0.05)
        yield with_database(f"postgresql://postgres@127.0.0.1:{port}/x", target.path[1:])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def api(bouncer: str) -> AsyncIterator[Api]:
    async for a in serve(settings_for(bouncer, pgbouncer=True, pool_size=8)):
        yield a


async def test_many_clients_share_two_server_connections(api: Api) -> None:
    async def one(n: int) -> None:
        if n % 3 == 0:
            result = (await api.data(RECORD_ONE, {"i": activity(n)}))["recordActivity"]
            assert result["status"] == "CREATED" and result["activity"]["id"] == activity(n)["id"]
        elif n % 3 == 1:
            await api.data(COVERAGE)
        else:
            # A page, and a lookup by id (graph.fastpath's statement, on the engine here).
            edges = (await api.data(PAGE))["activities"]["edges"]
            if edges:       # the activities recorded so far
                found = edges[n % len(edges)]["node"]
                lookup = (await api.data(LOOKUP, {"id": found["id"]}))["activity"]
                assert lookup == {"id": found["id"], "staff": found["staff"]}
                looked.append(found["id"])

    looked: list[str] = []
    for rounds in range(3):     # the same statements again: nothing may be cached by name
        await asyncio.gather(*(one(100 * rounds + n) for n in range(24)))
    assert looked


async def test_session_settings_hold_in_every_transaction(bouncer: str) -> None:
    settings = settings_for(bouncer, pgbouncer=True, flag_max_speed_kmh=77.0)
    engine = create_engine(bouncer, statement_timeout_ms=4321, pool_size=6, pgbouncer=True)
    configure_engine(engine, settings)
    try:
        async def show() -> tuple[str, ...]:
            async with engine.connect() as conn:
                row = (await conn.execute(text(
                    "SELECT current_setting('jit'), current_setting('statement_timeout'), "
                    "current_setting('plan_cache_mode'), "
                    "current_setting('jangkau.flag_max_speed_kmh')"))).one()
            return tuple(row)

        seen = await asyncio.gather(*(show() for _ in range(12)))
        assert set(seen) == {("off", "4321ms", "force_custom_plan", "77.0")}
    finally:
        await engine.dispose()

"""The peers Jangkau is compared with, installed apart from the project and started on
loopback against the same database: tipg (PyPI, in its own venv) and PostGraphile v4 with
@graphile/postgis (npm, pinned by bench/peers/package-lock.json)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg

from bench import BenchError, sql
from bench.client import HOST, GraphQL, Http
from bench.config import BENCH_DIR
from bench.servers import Server, answers, free_port, start

TIPG_VENV = BENCH_DIR / ".venv-tipg"
TIPG_REQUIREMENTS = ["tipg==1.*", "uvicorn"]
PEERS_DIR = BENCH_DIR / "peers"
POSTGRAPHILE = PEERS_DIR / "node_modules" / ".bin" / "postgraphile"


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise BenchError(f"{what} failed ({res.returncode}):\n{(res.stderr or res.stdout)[-2000:]}")


def ensure_tipg() -> Path:
    """tipg's own venv (created on first use); returns its uvicorn."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    python = TIPG_VENV / "bin" / "python"
    if uvicorn.exists() and subprocess.run([str(python), "-c", "import tipg.main"],
                                           capture_output=True).returncode == 0:
        return uvicorn
    _run([sys.executable, "-m", "venv", "--clear", str(TIPG_VENV)], "creating tipg's venv")
    _run([str(python), "-m", "pip", "install", "-q", *TIPG_REQUIREMENTS], "pip install tipg")
    return uvicorn


def ensure_postgraphile() -> Path:
    """PostGraphile from the lock file (installed on first use)."""
    if POSTGRAPHILE.exists():
        return POSTGRAPHILE
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is needed for PostGraphile (Debian: apt-get install -y npm)")
    _run([npm, "ci", "--no-audit", "--no-fund"], "npm ci (PostGraphile)", cwd=PEERS_DIR)
    return POSTGRAPHILE


def _clean_env() -> dict[str, str]:
    """The environment without the project's venv, so a peer never picks up its packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))
    return env


def start_tipg(url: str, log_dir: Path) -> Server:
    uvicorn = ensure_tipg()
    port = free_port()
    env = {**_clean_env(), "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]'}
    return start("tipg", [str(uvicorn), "tipg.main:app", "--host", HOST, "--port", str(port),
                          "--no-access-log", "--log-level", "warning"],
                 env, port, log_dir, answers("/healthz"), cwd=log_dir)


async def install_peer_sql(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql.PEER_OBJECTS)
    finally:
        await conn.close()


def _graphql_ready(http: Http) -> bool:
    GraphQL(http)("{ __typename }")
    return True


def start_postgraphile(url: str, log_dir: Path) -> Server:
    binary = ensure_postgraphile()
    port = free_port()
    return start("postgraphile", [
        str(binary), "-c", url, "--schema", f"public,{sql.PEER_SCHEMA}",
        "--append-plugins", "@graphile/postgis", "--host", HOST, "--port", str(port),
        "--disable-query-log"], {**_clean_env(), "NODE_ENV": "production"}, port, log_dir,
        _graphql_ready, cwd=PEERS_DIR)

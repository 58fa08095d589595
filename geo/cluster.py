"""A private PostgreSQL + PostGIS cluster for when no DATABASE_URL is given.

PostGIS cannot come from PyPI (no wheel ships it), so the cluster runs the machine's own
PostgreSQL binaries in a data directory of Jangkau's, on a port of its own. As root on
Debian/Ubuntu the missing OS packages are installed; elsewhere the error says what to install.
initdb refuses to run as root, so as root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from geo.errors import ClusterError

PG_ROOT = Path("/usr/lib/postgresql")
EXT_ROOT = Path("/usr/share/postgresql")


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    port: int

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"


def _versions() -> list[int]:
    if not PG_ROOT.is_dir():
        return []
    return sorted((int(p.name) for p in PG_ROOT.iterdir() if p.name.isdigit()), reverse=True)


def _has_postgis(version: int) -> bool:
    return (EXT_ROOT / str(version) / "extension" / "postgis.control").exists()


def _is_root() -> bool:
    return os.geteuid() == 0


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def find_bin_dir(install: bool = True) -> Path:
    """The newest PostgreSQL bin dir that has PostGIS, installing PostGIS if we may."""
    versions = _versions()
    for v in versions:
        if _has_postgis(v):
            return PG_ROOT / str(v) / "bin"
    can_apt = _is_root() and shutil.which("apt-get") is not None
    if install and can_apt:
        major = versions[0] if versions else 15
        pkgs = [f"postgresql-{major}-postgis-3"] + ([] if versions else [f"postgresql-{major}"])
        _apt_install(pkgs)
        return find_bin_dir(install=False)
    major = versions[0] if versions else 15
    raise ClusterError(
        f"PostgreSQL {major} with PostGIS 3 is needed for the private database. Install it "
        f"(Debian/Ubuntu: `sudo apt-get install postgresql-{major}-postgis-3`), or set "
        "DATABASE_URL to a PostgreSQL server that has PostGIS."
    )


def _run_as_owner(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    if _is_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def _prepare_dirs(cluster: Cluster) -> None:
    cluster.data_dir.parent.mkdir(parents=True, exist_ok=True)
    if _is_root():
        pg = pwd.getpwnam("postgres")
        cluster.data_dir.mkdir(exist_ok=True)
        os.chown(cluster.data_dir, pg.pw_uid, pg.pw_gid)
        cluster.log_file.touch()
        os.chown(cluster.log_file, pg.pw_uid, pg.pw_gid)
        # postgres must be able to reach its data dir through every parent.
        for parent in cluster.data_dir.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def status(cluster: Cluster) -> bool:
    """True when the cluster is running."""
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    bin_dir = find_bin_dir(install=False)
    res = _run_as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "status"])
    return res.returncode == 0


def start(cluster: Cluster) -> None:
    """Create the cluster if needed, start it, and create the `jangkau` database."""
    bin_dir = find_bin_dir()
    _prepare_dirs(cluster)
    if not (cluster.data_dir / "PG_VERSION").exists():
        res = _run_as_owner(
            [str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        )
        if res.returncode != 0:
            raise ClusterError(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
    if not status(cluster):
        if _port_taken(cluster.port):
            raise ClusterError(
                f"port {cluster.port} is taken by another server (another Jangkau data "
                "directory, or a PostgreSQL of its own?); set JANGKAU_PG_PORT to a free port "
                "or DATABASE_URL to use that server"
            )
        opts = f"-p {cluster.port} -k /tmp -c listen_addresses=127.0.0.1 -c jit=off"
        res = _run_as_owner(
            [str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-o", opts,
             "-l", str(cluster.log_file), "-w", "-t", "60", "start"]
        )
        if res.returncode != 0:
            raise ClusterError(
                f"PostgreSQL did not start (see {cluster.log_file}): {res.stderr.strip()}"
            )
    psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
            "-d", "postgres", "-tAc"]
    exists = subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname='jangkau'"],
                            text=True, capture_output=True, check=True)
    if exists.stdout.strip() != "1":
        subprocess.run([*psql, "CREATE DATABASE jangkau"], check=True, capture_output=True)


def stop(cluster: Cluster) -> None:
    if status(cluster):
        bin_dir = find_bin_dir(install=False)
        _run_as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast",
                       "-w", "stop"])


def restart(cluster: Cluster) -> None:
    """A fast restart (`pg_ctl restart -m fast`): sessions are ended, the server comes back with
    the options it was started with."""
    bin_dir = find_bin_dir(install=False)
    res = _run_as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast",
                         "-l", str(cluster.log_file), "-w", "-t", "60", "restart"])
    if res.returncode != 0:
        raise ClusterError(f"PostgreSQL did not restart (see {cluster.log_file}): "
                           f"{res.stderr.strip()}")


def replicate(primary: Cluster, replica: Cluster) -> None:
    """A streaming standby of `primary` in `replica`'s (empty) data directory, started on
    `replica.port`: `pg_basebackup -R` writes standby.signal and primary_conninfo for it."""
    bin_dir = find_bin_dir(install=False)
    _prepare_dirs(replica)
    replica.data_dir.chmod(0o700)      # PostgreSQL refuses a data directory others may read
    res = _run_as_owner([str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                         str(primary.port), "-U", "postgres", "-D", str(replica.data_dir), "-R",
                         "-X", "stream", "-c", "fast"])
    if res.returncode != 0:
        raise ClusterError(f"pg_basebackup failed: {res.stderr.strip() or res.stdout.strip()}")
    start(replica)

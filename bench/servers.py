"""Servers under test, each a subprocess on loopback: started, awaited until ready, measured
(resident memory from /proc), stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError
from bench.client import HOST, Http

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) one process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of one process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(name: str, cmd: Sequence[str], env: dict[str, str], port: int, log_dir: Path,
          ready: Callable[[Http], bool], cwd: Path | None = None) -> Server:
    """Start `cmd` and wait until `ready` says yes; its output goes to <log_dir>/<name>.log."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    server = Server(name, port, proc, log)
    http = Http(port, timeout=10)
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if ready(http):
                    return server
            except (OSError, BenchError):
                http.close()
            time.sleep(0.25)
        raise BenchError(f"{name} was not ready after {READY_TIMEOUT_S:.0f} s:\n{tail(log)}")
    except BaseException:
        server.stop()
        raise
    finally:
        http.close()


def answers(path: str) -> Callable[[Http], bool]:
    """Ready when GET `path` answers 200."""
    return lambda http: http.get(path)[0] == 200

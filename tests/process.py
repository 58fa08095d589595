"""The real server as a subprocess (`jangkau serve`), for tests of what only a process shows:
kills, signals, slow sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.tokens import SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`jangkau serve` as a subprocess, its log in a file."""

    def __init__(self, url: str, log: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "JANGKAU_JWT_SECRET": SECRET, **env, "DATABASE_URL": url}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graph.cli", "serve", "--port", str(self.port), *args],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start: {log.read_text()}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

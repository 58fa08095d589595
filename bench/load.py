"""Concurrent load with wrk (Debian's `wrk`): POST bodies from a generated Lua script, bounded
in time, loopback only; GraphQL errors in a 200 answer count as errors too. While it runs, the
server's resident memory is sampled from /proc."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import BenchError
from bench.client import HOST
from bench.servers import rss_mb

THREADS = 2
TIMEOUT = "30s"    # a slow answer under load is a data point, not a socket error
MARK = "BENCH_RESULT "

LUA = """
local bodies = {%(bodies)s}
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  i = offset
  bad = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
%(headers)s
end

function request()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "failed": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "mean_us": %%f}\\n',
    summary.requests, summary.duration, failed, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int          # non-200, GraphQL errors, socket errors and timeouts
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def figures(self) -> dict[str, float]:
        out = {"value": round(self.rps, 1), "requests": self.requests, "errors": self.errors,
               "p50_ms": round(self.p50_ms, 2), "p99_ms": round(self.p99_ms, 2)}
        if self.peak_rss_mb is not None:
            out["peak_rss_mb"] = round(self.peak_rss_mb, 1)
        return out


def ensure_wrk() -> str:
    """wrk's path, installing Debian's package when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env,
                       capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is needed for the concurrent scenario (Debian: apt-get install wrk)")
    return found


def lua_script(bodies: list[bytes], headers: dict[str, str] | None = None) -> str:
    if any(b"]==]" in b for b in bodies):
        raise BenchError("a request body cannot be quoted in Lua")
    quoted = ", ".join(f"[==[{b.decode()}]==]" for b in bodies)
    extra = "\n".join(f'  wrk.headers["{k}"] = [==[{v}]==]' for k, v in (headers or {}).items())
    return LUA % {"bodies": quoted, "mark": MARK, "headers": extra}


class RssSampler:
    """The peak VmRSS of a process, sampled every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def run_wrk(port: int, path: str, bodies: list[bytes], clients: int, seconds: int,
            pid: int | None = None, headers: dict[str, str] | None = None) -> LoadResult:
    """`clients` connections for `seconds` against http://127.0.0.1:port/path, bodies in turn."""
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="jangkau-wrk-") as tmp:
        script = Path(tmp) / "bodies.lua"
        script.write_text(lua_script(bodies, headers))
        cmd = [wrk, f"-t{min(THREADS, clients)}", f"-c{clients}", f"-d{seconds}s",
               f"--timeout={TIMEOUT}", "-s", str(script), f"http://{HOST}:{port}{path}"]
        if pid is None:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
            peak = None
        else:
            with RssSampler(pid) as rss:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
            peak = rss.peak
    line = next((x for x in res.stdout.splitlines() if x.startswith(MARK)), None)
    if res.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({res.returncode}): "
                         f"{res.stderr[-1000:] or res.stdout[-1000:]}")
    r = orjson.loads(line[len(MARK):])
    return LoadResult(requests=r["requests"], seconds=r["duration_us"] / 1e6,
                      errors=r["failed"] + r["socket_errors"], p50_ms=r["p50_us"] / 1000,
                      p99_ms=r["p99_us"] / 1000, peak_rss_mb=peak)

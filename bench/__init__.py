"""The benchmark harness: Jangkau side by side with raw SQL, tipg and PostGraphile (issue 6).

`python -m bench` runs it all; see bench/README.md.
"""

from __future__ import annotations


class BenchError(RuntimeError):
    """A step of the run failed: the message says which and why."""

"""What one run measures: the options of `python -m bench`, and what `--quick` changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

BENCH_DIR = Path(__file__).parent
RESULTS_DIR = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
# A fixed last day keeps the demo rows (and so every figure) the same from run to run.
UNTIL = date(2026, 11, 27)
SEED = 42
FULL_ACTIVITIES = 1_000_000
QUICK_ACTIVITIES = 10_000


@dataclass(frozen=True)
class Options:
    activities: int = FULL_ACTIVITIES
    quick: bool = False
    database: str = "jangkau_bench"
    results_dir: Path = RESULTS_DIR
    readme: Path | None = README
    command: str = "python -m bench"
    seed: int = SEED
    until: date = UNTIL
    staff: int | None = None       # `demo load --staff`; None: the demo's own default
    # How many days before `until` the recording scenario's activities begin: before the demo's
    # 90 days by default, so that they change none of the read scenarios and find no neighbours.
    record_days_back: tuple[int, int] = (100, 130)

    @property
    def peers(self) -> bool:
        """tipg and PostGraphile run in the full mode only (their installs need the network)."""
        return not self.quick

    @property
    def warmup(self) -> int:
        return 1 if self.quick else 5

    @property
    def min_reps(self) -> int:
        return 5 if self.quick else 20

    @property
    def max_reps(self) -> int:
        return 5 if self.quick else 200

    @property
    def budget_s(self) -> float:
        """Seconds of measuring per latency scenario, both sides together, beyond min_reps."""
        return 0.0 if self.quick else 30.0

    @property
    def load_seconds(self) -> int:
        return 3 if self.quick else 30

    @property
    def load_clients(self) -> int:
        return 64

    @property
    def record_batches(self) -> int:
        """Batches of 500 each of the 4 recording clients sends."""
        return 1 if self.quick else 10

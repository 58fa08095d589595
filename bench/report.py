"""Rows of results, their goals, and the three ways out: the printed table, JSON under
bench/results/, and the block between markers in bench/README.md."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.stats import Summary

START = "<!-- results:start -->"
END = "<!-- results:end -->"
OK = "ok"
QUICK_SKIP = "skipped in --quick"
NOT_AVAILABLE = "not available"
FAILED = "failed"


@dataclass(frozen=True)
class Goal:
    """`on` is what the limit applies to: the ratio, or Jangkau's own headline figure."""

    text: str
    on: str            # "ratio" | "value"
    op: str            # "<=" | ">="
    limit: float
    floor: float | None = None     # and Jangkau's own headline figure at least this

    def holds(self, x: float) -> bool:
        return x <= self.limit if self.op == "<=" else x >= self.limit


NO_GOAL = Goal("—", "value", ">=", 0)


@dataclass
class Row:
    key: str
    scenario: str
    reference: str
    unit: str                              # "ms" (latency summaries) or a rate / size
    goal: Goal
    status: str = OK
    jangkau: dict[str, float] | None = None
    ref: dict[str, float] | None = None
    errors: int = 0
    note: str = ""
    ratio: float | None = field(init=False, default=None)

    @property
    def headline(self) -> str:
        return "p50" if self.unit == "ms" else "value"

    def measured(self, mine: Summary, ref: Summary | None) -> Row:
        """Latency summaries in, ratio computed."""
        self.jangkau, self.ref = mine.figures(), ref.figures() if ref else None
        return self.finish()

    def finish(self) -> Row:
        """Compute the ratio (Jangkau / reference) from the headline figures."""
        if self.jangkau and self.ref and self.ref[self.headline]:
            self.ratio = self.jangkau[self.headline] / self.ref[self.headline]
        return self

    @property
    def met(self) -> bool | None:
        x = self.ratio if self.goal.on == "ratio" else (
            self.jangkau[self.headline] if self.jangkau else None)
        if x is None or self.status == FAILED:
            return None
        if self.goal.floor is not None and (
                not self.jangkau or self.jangkau[self.headline] < self.goal.floor):
            return False
        return self.goal.holds(x) and self.errors == 0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["goal"] = asdict(self.goal)
        out["met"] = self.met
        return out


def _num(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def figures(f: dict[str, float] | None, unit: str) -> str:
    if f is None:
        return "—"
    if unit == "ms":
        return (f"p50 {_num(f['p50'])} · p95 {_num(f['p95'])} ms "
                f"(IQR {_num(f['q1'])}–{_num(f['q3'])}, n={int(f['n'])})")
    extra = ""
    if "p99_ms" in f:
        extra = f" (p99 {_num(f['p99_ms'])} ms, {int(f['errors'])} errors)"
    return f"{_num(f['value'])} {unit}{extra}"


def _verdict(row: Row) -> str:
    if row.status in (NOT_AVAILABLE, FAILED):
        return row.status
    met = row.met
    if met is None:
        return row.status if row.status != OK else "—"
    return "**met**" if met else "**missed**"


def table(rows: list[Row]) -> str:
    """A Markdown table: what ran, the figures, the ratio and the goal side by side."""
    lines = ["| scenario | Jangkau | reference | ratio | goal | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        ref = f"{r.reference}: {figures(r.ref, r.unit)}" if r.ref else (
            f"{r.reference}: {r.status}" if r.status == QUICK_SKIP else r.reference)
        lines.append(f"| {r.scenario} | {figures(r.jangkau, r.unit)} | {ref} | {ratio} | "
                     f"{r.goal.text} | {_verdict(r)} |")
    notes = [f"- {r.scenario}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def document(meta: dict[str, Any], rows: list[Row]) -> dict[str, Any]:
    return {"meta": meta, "rows": [r.as_json() for r in rows]}


def write_json(doc: dict[str, Any], results_dir: Path) -> Path:
    """<results_dir>/<date>.json and latest.json; returns the dated one."""
    results_dir.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    stamp = doc["meta"]["date"].replace(":", "").replace("+0000", "Z")
    dated = results_dir / f"{stamp}.json"
    dated.write_bytes(body)
    (results_dir / "latest.json").write_bytes(body)
    return dated


def block(meta: dict[str, Any], rows: list[Row]) -> str:
    m = meta["machine"]
    return "\n".join([
        f"Run of {meta['date']} on {m['nproc']} cores, {m['memory_gib']} GiB "
        f"({m['cpu']}); PostgreSQL {m['postgresql']}, PostGIS {m['postgis']} (jit {m['jit']}); "
        f"{meta['activities']:,} activities{' (--quick)' if meta['quick'] else ''}; "
        f"code at {meta['commit']}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        table(rows),
    ])


def replace_block(text: str, content: str) -> str:
    """`text` with what lies between the markers replaced by `content`."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {START} … {END} markers")
    return pattern.sub(lambda _: f"{START}\n{content}\n{END}", text, count=1)


def write_readme(readme: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    readme.write_text(replace_block(readme.read_text(), block(meta, rows)))

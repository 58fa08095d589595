"""k-anonymity of aggregates: a cell built from fewer than k distinct staff shows no figure that
could single a person out (how many staff, when the last one was there).

`min_staff` is k for callers who may not see individual records (planners, staff, the public)
and 0 for those who may (supervisors of the cell's staff, admins): see graph.permissions.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def identifying(expr: str, staff: str = "cov.staff") -> str:
    """SQL: `expr`, or NULL where the cell's distinct staff (`staff`) are fewer than :min_staff."""
    return f"CASE WHEN {staff} >= :min_staff THEN {expr} END"


def shown(value: T, staff: int, min_staff: int) -> T | None:
    """`value`, or None when the cell's `staff` are fewer than `min_staff`."""
    return value if staff >= min_staff else None

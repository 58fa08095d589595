"""The hottest statements through functions whose plans are cached: lookups of activities by
id and access-log writes stop paying the planner.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Jangkau's connections plan every statement afresh (`plan_cache_mode = force_custom_plan`,
geo.db.server_settings): generic plans of spatial and range predicates were measured 4-5x
slower. But a lookup by primary key of the partitioned `activities` then spends most of its
time planning (one index per month partition): 0.58 ms of database CPU per lookup, against
0.075 ms when the plan is cached (measured with 16 connections on the demo's 100,000
activities). `activities_by_id(ids)` is that lookup in PL/pgSQL, which keeps its statement's
plan for the session, under `plan_cache_mode = force_generic_plan` for the function's duration
only (`auto` kept planning: the generic plan's estimate for `= ANY(array)` never looked cheaper
than a custom one; it is the same index probe per partition either way). `graph.fastpath` and
the activity DataLoader read through it.

`access_log_write(...)` is the access log's one INSERT (geo.access_log.write_many) the same
way: planned once a session, and with it the foreign-key check of each row's subject, which
PostgreSQL otherwise plans again for every row under force_custom_plan (8 rows a statement:
0.64 → 0.30 ms of database CPU).
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION activities_by_id(ids uuid[]) RETURNS SETOF activities
LANGUAGE plpgsql STABLE PARALLEL SAFE SET plan_cache_mode = 'force_generic_plan' AS $$
BEGIN
    RETURN QUERY SELECT * FROM activities WHERE id = ANY(ids);
END
$$;

CREATE FUNCTION access_log_write(subs text[], roles text[], subjects uuid[], whats text[],
                                 details text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
BEGIN
    INSERT INTO access_log (actor_sub, actor_role, subject_staff_id, what, detail)
    SELECT r.sub, r.role, r.subject, r.what, CAST(r.detail AS jsonb)
    FROM unnest(subs, roles, subjects, whats, details) AS r(sub, role, subject, what, detail);
END
$$;
"""

DOWNGRADE = r"""
DROP FUNCTION access_log_write(text[], text[], uuid[], text[], text[]);
DROP FUNCTION activities_by_id(uuid[]);
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

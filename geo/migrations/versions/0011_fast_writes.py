"""Fast writes (issue 13): an API batch is judged before it is rolled up.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Before, a batch of new activities was added to the rollups by the INSERT's statement trigger,
then judged (`activity_flags_refresh`), and every new row that came out flagged was taken out
again by the UPDATE trigger, which recomputes its keys from the base table: counted and
un-counted in one transaction, the recompute the dearest part of a write. Now a writer that
says so (`jangkau.rollups_after_judging = on`, transaction-local) inserts without the rollup
trigger's work; `activities_judge(ids)` judges the new rows and their neighbours, and then adds
the new rows to the rollups once, in their final review state. Neighbours whose counting the
judgement changed are recomputed as before, the new rows left out of that recompute (they are
added right after). Everything else (bulk loads, reviews, re-assignment, deletes, writers that
do not say so) is kept exact by the triggers of 0004 as before.

Functions and triggers name `activities` only, so that they apply to a partitioned table too.
"""

from __future__ import annotations

import importlib
import re

from geo.migrations.script import run_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- A writer that judges its rows before rolling them up says so for its transaction.
CREATE FUNCTION rollups_after_judging() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('jangkau.rollups_after_judging', true), '') = 'on'
$$;

-- The rows `activities_judge` is judging: not in the rollups yet, so no recompute counts them.
CREATE FUNCTION rollups_pending_ids() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(CAST(string_to_array(nullif(current_setting('jangkau.rollups_pending', true),
                                                ''), ',') AS uuid[]), '{}')
$$;

CREATE OR REPLACE FUNCTION rollups_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() OR rollups_after_judging() THEN
        RETURN NULL;
    END IF;
    INSERT INTO rollup_area_day AS r (day, area_id, category_code, outcome_code, activities,
                                      met, citizens, last_at)
    SELECT wib_day(started_at), area_id, category_code, outcome_code, count(*),
           count(*) FILTER (WHERE outcome_met), sum(citizens_served), max(started_at)
    FROM new_rows WHERE review IN ('NONE', 'ACCEPTED')
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, coalesce(area_id, 0), category_code, coalesce(outcome_code, '')) DO UPDATE
    SET activities = r.activities + EXCLUDED.activities, met = r.met + EXCLUDED.met,
        citizens = r.citizens + EXCLUDED.citizens, last_at = greatest(r.last_at, EXCLUDED.last_at);

    INSERT INTO rollup_presence AS r (staff_id, area_id, category_code, days)
    SELECT staff_id, area_id, category_code, range_agg(daterange(d, d, '[]'))
    FROM (SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS d
          FROM new_rows WHERE review IN ('NONE', 'ACCEPTED')) x
    GROUP BY 1, 2, 3
    ON CONFLICT (staff_id, coalesce(area_id, 0), category_code) DO UPDATE
    SET days = r.days + EXCLUDED.days;
    RETURN NULL;
END $$;

-- As 0004's, but the rows being judged (rollups_pending_ids) are left out of the recount.
CREATE OR REPLACE FUNCTION rollups_recompute(day_keys jsonb, presence_keys jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    pending uuid[] := rollups_pending_ids();
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS rollup_day_keys (day date, area_id integer,
        category_code text, outcome_code text) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS rollup_presence_keys (staff_id uuid, area_id integer,
        category_code text, day date) ON COMMIT DROP;
    TRUNCATE rollup_day_keys, rollup_presence_keys;
    INSERT INTO rollup_day_keys SELECT DISTINCT * FROM jsonb_to_recordset(day_keys)
        AS k(day date, area_id integer, category_code text, outcome_code text);
    INSERT INTO rollup_presence_keys SELECT DISTINCT * FROM jsonb_to_recordset(presence_keys)
        AS k(staff_id uuid, area_id integer, category_code text, day date);

    DELETE FROM rollup_area_day r USING rollup_day_keys k
    WHERE r.day = k.day AND coalesce(r.area_id, 0) = coalesce(k.area_id, 0)
      AND r.category_code = k.category_code
      AND coalesce(r.outcome_code, '') = coalesce(k.outcome_code, '');
    INSERT INTO rollup_area_day (day, area_id, category_code, outcome_code, activities, met,
                                 citizens, last_at)
    SELECT k.day, k.area_id, k.category_code, k.outcome_code, count(*),
           count(*) FILTER (WHERE a.outcome_met), sum(a.citizens_served), max(a.started_at)
    FROM rollup_day_keys k
    -- Two index-friendly branches rather than one `=`-or-both-NULL join, which no index
    -- serves; each carries the day's bounds so the (area_id, started_at) index takes them.
    CROSS JOIN LATERAL (
        SELECT x.id, x.outcome_met, x.citizens_served, x.started_at, x.category_code,
               x.outcome_code, x.review
        FROM activities x
        WHERE x.area_id = k.area_id
          AND x.started_at >= (k.day::timestamp AT TIME ZONE 'Asia/Jakarta')
          AND x.started_at < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
        UNION ALL
        SELECT x.id, x.outcome_met, x.citizens_served, x.started_at, x.category_code,
               x.outcome_code, x.review
        FROM activities x
        WHERE x.area_id IS NULL AND k.area_id IS NULL
          AND x.started_at >= (k.day::timestamp AT TIME ZONE 'Asia/Jakarta')
          AND x.started_at < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
    ) a
    WHERE a.category_code = k.category_code
      AND a.outcome_code IS NOT DISTINCT FROM k.outcome_code
      AND a.review IN ('NONE', 'ACCEPTED')
      AND NOT a.id = ANY(pending)
    GROUP BY 1, 2, 3, 4;

    -- Presence is judged day by day: is the staff member still present on that day?
    WITH judged AS (
        SELECT k.staff_id, k.area_id, k.category_code, daterange(k.day, k.day, '[]') AS d,
               EXISTS (
                   SELECT 1 FROM activities a
                   WHERE a.staff_id = k.staff_id
                     AND a.started_at >= (k.day::timestamp AT TIME ZONE 'Asia/Jakarta')
                     AND a.started_at < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
                     AND coalesce(a.area_id, 0) = coalesce(k.area_id, 0)
                     AND a.category_code = k.category_code
                     AND a.review IN ('NONE', 'ACCEPTED')
                     AND NOT a.id = ANY(pending)) AS present
        FROM rollup_presence_keys k
    ),
    change AS (
        SELECT staff_id, area_id, category_code,
               coalesce(range_agg(d) FILTER (WHERE present), '{}') AS plus,
               coalesce(range_agg(d) FILTER (WHERE NOT present), '{}') AS minus
        FROM judged GROUP BY 1, 2, 3
    )
    INSERT INTO rollup_presence AS r (staff_id, area_id, category_code, days)
    SELECT staff_id, area_id, category_code, plus - minus FROM change
    ON CONFLICT (staff_id, coalesce(area_id, 0), category_code) DO UPDATE
    SET days = (r.days + EXCLUDED.days)
               - (SELECT c.minus FROM change c
                  WHERE c.staff_id = r.staff_id AND coalesce(c.area_id, 0) = coalesce(r.area_id, 0)
                    AND c.category_code = r.category_code);
    DELETE FROM rollup_presence WHERE isempty(days);
END $$;

-- As 0004's, but a row being judged is not in the rollups yet: nothing of it to take out.
CREATE OR REPLACE FUNCTION rollups_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending uuid[] := rollups_pending_ids();
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    -- Only rows whose rolled-up facts changed matter (flag evaluation touches many others);
    -- both the old and the new keys of such a row are recomputed.
    PERFORM rollups_recompute_rows(coalesce(jsonb_agg(to_jsonb(x)), '[]'))
    FROM (
        SELECT v.started_at, v.area_id, v.category_code, v.outcome_code, v.staff_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES
                (o.started_at, o.area_id, o.category_code, o.outcome_code, o.staff_id),
                (n.started_at, n.area_id, n.category_code, n.outcome_code, n.staff_id))
            AS v(started_at, area_id, category_code, outcome_code, staff_id)
        WHERE NOT n.id = ANY(pending) AND (
              (o.review IN ('NONE', 'ACCEPTED')) <> (n.review IN ('NONE', 'ACCEPTED'))
           OR o.area_id IS DISTINCT FROM n.area_id OR o.started_at <> n.started_at
           OR o.staff_id <> n.staff_id OR o.category_code <> n.category_code
           OR o.outcome_code IS DISTINCT FROM n.outcome_code OR o.outcome_met <> n.outcome_met
           OR o.citizens_served <> n.citizens_served)
    ) x;
    RETURN NULL;
END $$;

-- Judge new activities `ids` and their neighbours (activity_flags_refresh, which takes the
-- per-staff locks), then, when their writer held back the rollups, add them to the rollups
-- once, in their final review state. Returns how many activities' flags changed.
CREATE FUNCTION activities_judge(ids uuid[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    IF rollups_deferred() OR NOT rollups_after_judging() THEN
        RETURN activity_flags_refresh(ids);
    END IF;
    PERFORM set_config('jangkau.rollups_pending', array_to_string(ids, ','), true);
    changed := activity_flags_refresh(ids);
    PERFORM set_config('jangkau.rollups_pending', '', true),
            set_config('jangkau.rollups_after_judging', 'off', true);
    -- In key order, so that concurrent writers take the rollup rows they share in one order.
    INSERT INTO rollup_area_day AS r (day, area_id, category_code, outcome_code, activities,
                                      met, citizens, last_at)
    SELECT wib_day(started_at), area_id, category_code, outcome_code, count(*),
           count(*) FILTER (WHERE outcome_met), sum(citizens_served), max(started_at)
    FROM activities WHERE id = ANY(ids) AND review IN ('NONE', 'ACCEPTED')
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, coalesce(area_id, 0), 3, coalesce(outcome_code, '')
    ON CONFLICT (day, coalesce(area_id, 0), category_code, coalesce(outcome_code, '')) DO UPDATE
    SET activities = r.activities + EXCLUDED.activities, met = r.met + EXCLUDED.met,
        citizens = r.citizens + EXCLUDED.citizens, last_at = greatest(r.last_at, EXCLUDED.last_at);

    INSERT INTO rollup_presence AS r (staff_id, area_id, category_code, days)
    SELECT staff_id, area_id, category_code, range_agg(daterange(d, d, '[]'))
    FROM (SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS d
          FROM activities WHERE id = ANY(ids) AND review IN ('NONE', 'ACCEPTED')) x
    GROUP BY 1, 2, 3
    ORDER BY 1, coalesce(area_id, 0), 3
    ON CONFLICT (staff_id, coalesce(area_id, 0), category_code) DO UPDATE
    SET days = r.days + EXCLUDED.days;
    RETURN changed;
END $$;
"""

DOWNGRADE = """
DROP FUNCTION IF EXISTS activities_judge(uuid[]);
"""

RESTORED = ("rollups_on_insert", "rollups_recompute", "rollups_on_change")


def _functions_0004() -> str:
    """0004's versions of the functions this one replaces, read from its frozen script."""
    old = importlib.import_module("geo.migrations.versions.0004_rollups").UPGRADE
    found = []
    for name in RESTORED:
        match = re.search(rf"CREATE FUNCTION {name}\(.*?\$\$;\n", old, re.S)
        if match is None:
            raise RuntimeError(f"0004 defines no function {name}")
        found.append("CREATE OR REPLACE" + match.group(0)[len("CREATE"):])
    return "\n".join(found)


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE + _functions_0004()
               + "DROP FUNCTION IF EXISTS rollups_pending_ids(), rollups_after_judging();\n")

"""Rollups for long periods: per WIB day and kelurahan, and each staff member's days of presence.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Only activities that count (review NONE or ACCEPTED) are rolled up. Statement-level triggers
keep both tables exact for every writer (the API, bulk loads, re-assignment after a boundary
import, flag evaluation, reviews): inserted rows are added in place; for updated or deleted
rows the touched keys are recomputed from the base table. `rollups_rebuild()` recomputes all.

- rollup_area_day: additive figures per (WIB day, kelurahan or NULL outside, category, outcome).
- rollup_presence: per (staff, kelurahan or NULL, category) the set of WIB days with at least
  one activity, as a datemultirange: distinct staff over any period is exact
  (`days && period`), never an estimate, and the table stays small (one row per staff member
  per kelurahan and category, whatever the period).
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION wib_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (t AT TIME ZONE 'Asia/Jakarta')::date
$$;

CREATE TABLE rollup_area_day (
    day           date NOT NULL,
    area_id       integer REFERENCES areas (id) ON DELETE CASCADE,
    category_code text NOT NULL,
    outcome_code  text,
    activities    integer NOT NULL CHECK (activities > 0),
    met           integer NOT NULL CHECK (met >= 0),
    citizens      bigint NOT NULL CHECK (citizens >= 0),
    last_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX rollup_area_day_key
    ON rollup_area_day (day, coalesce(area_id, 0), category_code, coalesce(outcome_code, ''));

CREATE TABLE rollup_presence (
    staff_id      uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    area_id       integer REFERENCES areas (id) ON DELETE CASCADE,
    category_code text NOT NULL,
    days          datemultirange NOT NULL
);
CREATE UNIQUE INDEX rollup_presence_key
    ON rollup_presence (staff_id, coalesce(area_id, 0), category_code);
CREATE INDEX rollup_presence_days ON rollup_presence USING gist (days);

-- A bulk writer may defer upkeep for its transaction and call rollups_rebuild() at the end.
CREATE FUNCTION rollups_deferred() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('jangkau.rollups_deferred', true), '') = 'on'
$$;

CREATE FUNCTION rollups_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
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

-- Recompute the rollup rows of the given keys from the base table.
CREATE FUNCTION rollups_recompute(day_keys jsonb, presence_keys jsonb) RETURNS void
LANGUAGE plpgsql AS $$
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
        SELECT x.outcome_met, x.citizens_served, x.started_at, x.category_code, x.outcome_code,
               x.review
        FROM activities x
        WHERE x.area_id = k.area_id
          AND x.started_at >= (k.day::timestamp AT TIME ZONE 'Asia/Jakarta')
          AND x.started_at < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
        UNION ALL
        SELECT x.outcome_met, x.citizens_served, x.started_at, x.category_code, x.outcome_code,
               x.review
        FROM activities x
        WHERE x.area_id IS NULL AND k.area_id IS NULL
          AND x.started_at >= (k.day::timestamp AT TIME ZONE 'Asia/Jakarta')
          AND x.started_at < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
    ) a
    WHERE a.category_code = k.category_code
      AND a.outcome_code IS NOT DISTINCT FROM k.outcome_code
      AND a.review IN ('NONE', 'ACCEPTED')
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
                     AND a.review IN ('NONE', 'ACCEPTED')) AS present
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

-- The rollup keys of a set of rows (a transition table's, as jsonb), recomputed.
CREATE FUNCTION rollups_recompute_rows(changed jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT rollups_recompute(
        (SELECT jsonb_agg(DISTINCT jsonb_build_object(
                    'day', wib_day(CAST(r->>'started_at' AS timestamptz)),
                    'area_id', r->'area_id', 'category_code', r->'category_code',
                    'outcome_code', r->'outcome_code'))
         FROM jsonb_array_elements(changed) r),
        (SELECT jsonb_agg(DISTINCT jsonb_build_object(
                    'staff_id', r->'staff_id', 'area_id', r->'area_id',
                    'category_code', r->'category_code',
                    'day', wib_day(CAST(r->>'started_at' AS timestamptz))))
         FROM jsonb_array_elements(changed) r))
    WHERE jsonb_array_length(changed) > 0
$$;

CREATE FUNCTION rollups_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
        WHERE (o.review IN ('NONE', 'ACCEPTED')) <> (n.review IN ('NONE', 'ACCEPTED'))
           OR o.area_id IS DISTINCT FROM n.area_id OR o.started_at <> n.started_at
           OR o.staff_id <> n.staff_id OR o.category_code <> n.category_code
           OR o.outcome_code IS DISTINCT FROM n.outcome_code OR o.outcome_met <> n.outcome_met
           OR o.citizens_served <> n.citizens_served
    ) x;
    RETURN NULL;
END $$;

CREATE FUNCTION rollups_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    PERFORM rollups_recompute_rows(coalesce(jsonb_agg(to_jsonb(x)), '[]'))
    FROM (SELECT started_at, area_id, category_code, outcome_code, staff_id FROM old_rows) x;
    RETURN NULL;
END $$;

CREATE TRIGGER rollups_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_insert();
CREATE TRIGGER rollups_update AFTER UPDATE ON activities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_change();
CREATE TRIGGER rollups_delete AFTER DELETE ON activities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_delete();

CREATE FUNCTION rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE rollup_area_day, rollup_presence;
    INSERT INTO rollup_area_day (day, area_id, category_code, outcome_code, activities, met,
                                 citizens, last_at)
    SELECT wib_day(started_at), area_id, category_code, outcome_code, count(*),
           count(*) FILTER (WHERE outcome_met), sum(citizens_served), max(started_at)
    FROM activities WHERE review IN ('NONE', 'ACCEPTED') GROUP BY 1, 2, 3, 4;
    INSERT INTO rollup_presence (staff_id, area_id, category_code, days)
    SELECT staff_id, area_id, category_code, range_agg(daterange(d, d, '[]'))
    FROM (SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS d
          FROM activities WHERE review IN ('NONE', 'ACCEPTED')) x
    GROUP BY 1, 2, 3;
END $$;

SELECT rollups_rebuild();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS rollups_insert ON activities;
DROP TRIGGER IF EXISTS rollups_update ON activities;
DROP TRIGGER IF EXISTS rollups_delete ON activities;
DROP FUNCTION IF EXISTS rollups_rebuild(), rollups_on_change(), rollups_on_delete(),
    rollups_recompute_rows(jsonb), rollups_recompute(jsonb, jsonb), rollups_on_insert();
DROP TABLE IF EXISTS rollup_presence, rollup_area_day;
DROP FUNCTION IF EXISTS wib_day(timestamptz), rollups_deferred();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

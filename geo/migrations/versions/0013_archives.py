"""Archived months: which months of `activities` were detached to a file, and whether the
rollups still hold their figures.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

`jangkau activities archive` detaches a month's partition and dumps it; the rollups keep that
month's figures (coverage, maps and series read them) until the operator forgets them
(`jangkau activities forget-figures`), because archiving is about disk, not about what the
city achieved. So the rollups equal the base table on every day except those of archived
months whose figures are kept, and `rollups_rebuild()` must leave those days alone.

- `activity_archives`: one row per archived WIB month (its first day), when, how many rows,
  the file's name, and `figures_forgotten_at` once its figures left the rollups.
- `rollups_kept_archived()`: the WIB days of archived months whose figures are kept.
- `rollups_refresh(span)`: recompute both rollups on the days of `span` from the base table;
  forgetting an archived month's figures and restoring it are both this (with the rows gone,
  and with them back). Run range by range with the bounds as values, so that the planner
  prunes to the partitions of the span.
- `rollups_drift()`: how many rollup rows differ from the base table outside the kept archived
  months (0 when exact): the exactness check that knows about archives.
- `rollups_rebuild()`: now the refresh of every day except `rollups_kept_archived()`.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE activity_archives (
    month                date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    archived_at          timestamptz NOT NULL DEFAULT now(),
    rows                 bigint NOT NULL CHECK (rows >= 0),
    file                 text NOT NULL CHECK (file <> ''),
    figures_forgotten_at timestamptz
);

CREATE FUNCTION rollups_kept_archived() RETURNS datemultirange LANGUAGE sql STABLE AS $$
    SELECT coalesce(range_agg(daterange(month, (month + interval '1 month')::date)),
                    '{}'::datemultirange)
    FROM activity_archives WHERE figures_forgotten_at IS NULL
$$;

CREATE FUNCTION rollups_refresh(span datemultirange) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r daterange;
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    DELETE FROM rollup_area_day WHERE day <@ span;
    UPDATE rollup_presence SET days = days - span WHERE days && span;
    DELETE FROM rollup_presence WHERE isempty(days);
    FOR r IN SELECT unnest(span) LOOP
        t0 := coalesce(lower(r)::timestamp AT TIME ZONE 'Asia/Jakarta', '-infinity');
        t1 := coalesce(upper(r)::timestamp AT TIME ZONE 'Asia/Jakarta', 'infinity');
        INSERT INTO rollup_area_day (day, area_id, category_code, outcome_code, activities,
                                     met, citizens, last_at)
        SELECT wib_day(started_at), area_id, category_code, outcome_code, count(*),
               count(*) FILTER (WHERE outcome_met), sum(citizens_served), max(started_at)
        FROM activities
        WHERE review IN ('NONE', 'ACCEPTED') AND started_at >= t0 AND started_at < t1
        GROUP BY 1, 2, 3, 4;
        INSERT INTO rollup_presence AS p (staff_id, area_id, category_code, days)
        SELECT staff_id, area_id, category_code, range_agg(daterange(d, d, '[]'))
        FROM (SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS d
              FROM activities
              WHERE review IN ('NONE', 'ACCEPTED') AND started_at >= t0 AND started_at < t1) x
        GROUP BY 1, 2, 3
        ON CONFLICT (staff_id, coalesce(area_id, 0), category_code) DO UPDATE
        SET days = p.days + EXCLUDED.days;
    END LOOP;
END $$;

-- How many rollup rows differ from the base table, on every day but the kept archived ones
-- (0 when exact): the exactness check, for tests and for `jangkau activities check-rollups`.
CREATE FUNCTION rollups_drift() RETURNS bigint LANGUAGE sql STABLE AS $$
    WITH kept AS (SELECT rollups_kept_archived() AS k),
    counted AS (
        SELECT a.* FROM activities a, kept
        WHERE a.review IN ('NONE', 'ACCEPTED') AND NOT wib_day(a.started_at) <@ kept.k
    ),
    day_truth AS (
        SELECT wib_day(started_at) AS day, area_id, category_code, outcome_code,
               count(*)::integer AS activities, count(*) FILTER (WHERE outcome_met)::integer,
               sum(citizens_served)::bigint, max(started_at)
        FROM counted GROUP BY 1, 2, 3, 4
    ),
    day_held AS (
        SELECT day, area_id, category_code, outcome_code, activities, met, citizens, last_at
        FROM rollup_area_day, kept WHERE NOT day <@ kept.k
    ),
    presence_truth AS (
        SELECT staff_id, area_id, category_code, range_agg(daterange(d, d, '[]'))::text
        FROM (SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS d
              FROM counted) x
        GROUP BY 1, 2, 3
    ),
    presence_held AS (
        SELECT staff_id, area_id, category_code, (days - kept.k)::text
        FROM rollup_presence, kept WHERE NOT isempty(days - kept.k)
    )
    SELECT (SELECT count(*) FROM ((TABLE day_truth EXCEPT ALL TABLE day_held) UNION ALL
                                  (TABLE day_held EXCEPT ALL TABLE day_truth)) d)
         + (SELECT count(*) FROM ((TABLE presence_truth EXCEPT ALL TABLE presence_held) UNION ALL
                                  (TABLE presence_held EXCEPT ALL TABLE presence_truth)) p)
$$;

CREATE OR REPLACE FUNCTION rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF isempty(rollups_kept_archived()) THEN
        TRUNCATE rollup_area_day, rollup_presence;     -- the quick way when nothing is kept
    END IF;
    PERFORM rollups_refresh('{(,)}'::datemultirange - rollups_kept_archived());
END $$;
"""

# The rebuild as 0004 wrote it; archived months' figures go with the table.
DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
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
DROP FUNCTION IF EXISTS rollups_drift(), rollups_refresh(datemultirange), rollups_kept_archived();
DROP TABLE IF EXISTS activity_archives;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

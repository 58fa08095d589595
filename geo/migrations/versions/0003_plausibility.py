"""Plausibility of field presence: flags computed in the database, a review state, its history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

`activity_flags_refresh(ids)` judges the given activities and the neighbours of the same staff
member whose judgement their arrival can change, in one statement (window functions over each
staff member's activities by started_at); with NULL it judges every activity. What a record says
about itself (place, assignment, accuracy, mock, clock) is judged when it is given; what depends
on its neighbours (speed, bursts) is judged again whenever a neighbour arrives. Thresholds come
from `jangkau.flag_*` settings (see `geo.plausibility`), with the defaults below.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FLAGS = ("OUTSIDE_CITY", "OUTSIDE_ASSIGNMENT", "LOW_ACCURACY", "MOCK_LOCATION",
         "IMPOSSIBLE_SPEED", "FUTURE_TIME", "DUPLICATE_BURST")
FLAG_ARRAY = "ARRAY[" + ", ".join(f"'{f}'" for f in FLAGS) + "]"

UPGRADE = f"""
ALTER TABLE activities
    ADD COLUMN flags text[] NOT NULL DEFAULT '{{}}' CHECK (flags <@ {FLAG_ARRAY}),
    ADD COLUMN review text NOT NULL DEFAULT 'NONE'
        CHECK (review IN ('NONE', 'PENDING', 'ACCEPTED', 'REJECTED')),
    ADD CONSTRAINT activities_review_flags_check CHECK ((review = 'NONE') = (flags = '{{}}'));
-- What a supervisor pages through: flagged activities, newest first.
CREATE INDEX activities_flagged_idx ON activities (started_at, id) WHERE review <> 'NONE';

CREATE TABLE flag_reviews (
    id              serial PRIMARY KEY,
    activity_id     uuid NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    decision        text NOT NULL CHECK (decision IN ('ACCEPTED', 'REJECTED')),
    reason          text NOT NULL CHECK (btrim(reason) <> '' AND length(reason) <= 1000),
    reviewer        text CHECK (length(reviewer) <= 200),
    at              timestamptz NOT NULL DEFAULT now(),
    flags_at_review text[] NOT NULL CHECK (flags_at_review <> '{{}}')
);
CREATE INDEX flag_reviews_activity_idx ON flag_reviews (activity_id, at, id);

-- A threshold: the `jangkau.flag_<name>` setting of the session or transaction, else `fallback`.
CREATE FUNCTION flag_setting(name text, fallback double precision) RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(CAST(nullif(current_setting('jangkau.flag_' || name, true), '')
                         AS double precision), fallback)
$$;

-- [lo, hi] widened to take in the staff member's last activity before lo and first after hi.
CREATE FUNCTION activity_span(staff uuid, lo timestamptz, hi timestamptz) RETURNS tstzrange
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT tstzrange(
        least(lo, (SELECT max(started_at) FROM activities
                   WHERE staff_id = staff AND started_at < lo)),
        greatest(hi, (SELECT min(started_at) FROM activities
                      WHERE staff_id = staff AND started_at > hi)),
        '[]')
$$;

CREATE FUNCTION activity_flags_refresh(ids uuid[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    max_accuracy double precision := flag_setting('max_accuracy_m', 100);
    max_speed    double precision := flag_setting('max_speed_kmh', 120) / 3.6;  -- m/s
    ahead        interval := make_interval(secs => flag_setting('future_tolerance_s', 300));
    burst_n      integer := flag_setting('burst_count', 5);
    win          interval := make_interval(secs => 60 * flag_setting('burst_minutes', 10));
    radius       double precision := flag_setting('burst_radius_m', 50);
    -- One constant geometry, which PostGIS prepares once for every point. Without a city
    -- outline nothing is judged outside it.
    city         geometry := (SELECT ST_Union(geom) FROM areas WHERE level = 'CITY');
    changed      integer;
BEGIN
    -- Writers of the same staff member take turns, so each one judges the other's rows too.
    PERFORM pg_advisory_xact_lock(hashtextextended('jangkau.flags:' || s, 0))
    FROM (SELECT DISTINCT staff_id::text AS s FROM activities WHERE id = ANY(ids) ORDER BY 1) x;

    WITH
    -- Targets: each given activity's neighbours and every activity within its burst window.
    target AS (
        SELECT g.staff_id, range_agg(activity_span(g.staff_id, g.started_at - win,
                                                   g.started_at + win)) AS span
        FROM activities g WHERE g.id = ANY(ids) GROUP BY g.staff_id
    ),
    -- Context: what the targets are judged against (their neighbours, their burst windows),
    -- as disjoint time ranges of each staff member's activities.
    context AS MATERIALIZED (
        SELECT c.staff_id, c.target_span, lower(r) AS lo, upper(r) AS hi
        FROM (
            SELECT t.staff_id, t.span AS target_span,
                   range_agg(activity_span(t.staff_id, lower(r) - win, upper(r) + win)) AS span
            FROM target t CROSS JOIN LATERAL unnest(t.span) r GROUP BY t.staff_id, t.span
        ) c CROSS JOIN LATERAL unnest(c.span) r
    ),
    src AS (
        SELECT a.id, a.staff_id, a.started_at, a.device_time, a.received_at, a.geom,
               a.area_id, a.accuracy_m, a.mock_location, a.flags, true AS target, true AS given
        FROM activities a WHERE ids IS NULL
        UNION ALL
        SELECT a.*, a.started_at <@ c.target_span, a.id = ANY(ids)
        FROM context c CROSS JOIN LATERAL (
            -- Range by range through (staff_id, started_at): OFFSET 0 keeps the planner from
            -- turning it into a scan of the whole table.
            SELECT x.id, x.staff_id, x.started_at, x.device_time, x.received_at, x.geom,
                   x.area_id, x.accuracy_m, x.mock_location, x.flags
            FROM activities x
            WHERE x.staff_id = c.staff_id AND x.started_at BETWEEN c.lo AND c.hi OFFSET 0
        ) a
        WHERE ids IS NOT NULL
    ),
    -- The step from the previous activity (a zero gap counts as one second), and how many of
    -- the staff member's activities began in the window up to this one.
    step AS (
        SELECT s.*, lag(s.geom) OVER w AS prev_geom,
               greatest(extract(epoch FROM s.started_at - lag(s.started_at) OVER w), 1) AS gap,
               count(*) OVER (PARTITION BY s.staff_id ORDER BY s.started_at
                              RANGE BETWEEN win PRECEDING AND CURRENT ROW) AS recent
        FROM src s
        WINDOW w AS (PARTITION BY s.staff_id ORDER BY s.started_at, s.id)
    ),
    -- Too fast in great-circle metres per second. The planar distance in degrees times
    -- 157,253 m (111,195 m a degree, times the square root of 2) is never shorter, and cheap:
    -- a step that passes with it needs no exact measure.
    seq AS (
        SELECT m.*, m.fast_in OR coalesce(lead(m.fast_in) OVER w, false) AS too_fast
        FROM (
            SELECT s.*, s.prev_geom IS NOT NULL
                        AND (s.prev_geom <-> s.geom) * 157253 > max_speed * s.gap
                        AND ST_DistanceSphere(s.prev_geom, s.geom) > max_speed * s.gap AS fast_in
            FROM step s
        ) m
        WINDOW w AS (PARTITION BY m.staff_id ORDER BY m.started_at, m.id)
    ),
    -- Records that might end a burst: burst_n or more began in the window up to them. Each
    -- with a box in degrees that surely holds its circle of `radius` metres, so that pairs
    -- are measured on the spheroid only when their boxes meet.
    candidate AS MATERIALIZED (
        SELECT c.id, c.staff_id, c.started_at, c.geom,
               ST_Expand(c.geom, radius / (111320 * cos(radians(least(abs(ST_Y(c.geom)) + 0.01,
                                                                       89)))) * 1.01,
                         radius / 110574 * 1.01) AS box
        FROM seq c WHERE c.recent >= burst_n
    ),
    -- The last record of a burst: burst_n records began within `win` up to it, within `radius`.
    -- Judged within `seq`, which holds every record a target's bursts can involve.
    burst_end AS MATERIALIZED (
        SELECT e.staff_id, e.started_at, e.geom, e.box FROM candidate e
        WHERE e.id IN (
            SELECT c.id FROM candidate c
            JOIN seq o ON o.staff_id = c.staff_id
                      AND o.started_at BETWEEN c.started_at - win AND c.started_at
                      AND o.geom && c.box
                      AND ST_DWithin(o.geom::geography, c.geom::geography, radius)
            GROUP BY c.id HAVING count(*) >= burst_n)
    ),
    burst AS (
        SELECT DISTINCT m.id FROM burst_end e
        JOIN seq m ON m.staff_id = e.staff_id
                  AND m.started_at BETWEEN e.started_at - win AND e.started_at
                  AND m.geom && e.box
                  AND ST_DWithin(m.geom::geography, e.geom::geography, radius)
    ),
    -- Inside an area assigned to the staff member on that WIB day: its own kelurahan, or
    -- failing that (an assigned kecamatan, an overlap of two kelurahan) the area's outline.
    assigned AS (
        SELECT s.id FROM seq s
        WHERE s.given AND EXISTS (
            SELECT 1 FROM staff_assignments sa JOIN areas x ON x.id = sa.area_id
            WHERE sa.staff_id = s.staff_id
              AND sa.during @> (s.started_at AT TIME ZONE 'Asia/Jakarta')::date
              AND (sa.area_id = s.area_id OR ST_Covers(x.geom, s.geom)))
    ),
    -- A given record is judged afresh; a neighbour keeps what it says about itself.
    judged AS (
        SELECT s.id, s.flags AS old_flags,
            -- The outline is coarse (see SOURCE.md): a point in one of its kelurahan is inside.
            CASE WHEN s.given THEN s.area_id IS NULL AND NOT coalesce(ST_Covers(city, s.geom), true)
                 ELSE 'OUTSIDE_CITY' = ANY(s.flags) END AS outside_city,
            CASE WHEN s.given THEN a.id IS NULL
                 ELSE 'OUTSIDE_ASSIGNMENT' = ANY(s.flags) END AS outside_assignment,
            CASE WHEN s.given THEN coalesce(s.accuracy_m > max_accuracy, false)
                 ELSE 'LOW_ACCURACY' = ANY(s.flags) END AS low_accuracy,
            CASE WHEN s.given THEN s.mock_location
                 ELSE 'MOCK_LOCATION' = ANY(s.flags) END AS mock_location,
            s.too_fast,
            CASE WHEN s.given THEN greatest(s.started_at, s.device_time) > s.received_at + ahead
                 ELSE 'FUTURE_TIME' = ANY(s.flags) END AS future_time,
            b.id IS NOT NULL AS burst
        FROM seq s LEFT JOIN assigned a ON a.id = s.id LEFT JOIN burst b ON b.id = s.id
        WHERE s.target
    ),
    fresh AS MATERIALIZED (
        SELECT j.id, j.old_flags, array_remove(ARRAY[
            CASE WHEN j.outside_city THEN 'OUTSIDE_CITY' END,
            CASE WHEN j.outside_assignment THEN 'OUTSIDE_ASSIGNMENT' END,
            CASE WHEN j.low_accuracy THEN 'LOW_ACCURACY' END,
            CASE WHEN j.mock_location THEN 'MOCK_LOCATION' END,
            CASE WHEN j.too_fast THEN 'IMPOSSIBLE_SPEED' END,
            CASE WHEN j.future_time THEN 'FUTURE_TIME' END,
            CASE WHEN j.burst THEN 'DUPLICATE_BURST' END], NULL) AS flags
        FROM judged j
    )
    -- No flags: nothing to review. A rejection stands. An acceptance stands unless a flag
    -- appears that it was not given with. Anything else waits for a reviewer.
    UPDATE activities a
    SET flags = f.flags,
        review = CASE WHEN f.flags = '{{}}' THEN 'NONE'
                      WHEN a.review = 'REJECTED' THEN 'REJECTED'
                      WHEN a.review = 'ACCEPTED' AND f.flags <@ a.flags THEN 'ACCEPTED'
                      ELSE 'PENDING' END
    FROM fresh f
    WHERE a.id = f.id AND a.flags IS DISTINCT FROM f.flags
      -- The changed ids as one array: the planner looks them up by key, whatever it guessed
      -- of the size of `fresh`, rather than scanning the table to join them.
      AND a.id = ANY(ARRAY(SELECT c.id FROM fresh c WHERE c.flags IS DISTINCT FROM c.old_flags));
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $fn$;
"""

DOWNGRADE = """
DROP FUNCTION IF EXISTS activity_flags_refresh(uuid[]),
    activity_span(uuid, timestamptz, timestamptz), flag_setting(text, double precision);
DROP TABLE IF EXISTS flag_reviews;
DROP INDEX IF EXISTS activities_flagged_idx;
ALTER TABLE activities DROP CONSTRAINT IF EXISTS activities_review_flags_check,
    DROP COLUMN IF EXISTS review, DROP COLUMN IF EXISTS flags;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

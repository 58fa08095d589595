"""Judged in less time (issue 13): the same flags and reasons, for a third less work.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

Three costs of recording a batch, measured at 1,000,000 activities (one writer, 500 records on
days without others, in the database, rolled back; bench README):

- `activity_judge_alone` joined each record to its placement in the assigned areas as two
  sets, which the planner took for one row against hundreds and compared pair by pair
  (10 ms a batch). Each record now finds its assignments through their index.
- The reason of OUTSIDE_ASSIGNMENT, the distance to the nearest assigned area, was measured on
  the spheroid, polygon by polygon (19 ms a batch when most records lie outside, as the
  bench's do). It is measured in metres of UTM zone 49S, as STATIC_DAY's radius is, against
  the areas' outlines projected once and stored (`areas.geom_utm`, a generated column): within
  0.01 % of the spheroid's distance anywhere in the city, at a twentieth of the cost.
  Reasons written before keep their figures.
- `activity_flags_refresh` looked up every record at a new record's point twice through the
  GiST index: once to judge the new record a copy of an earlier one, once, in a statement of
  its own, to find stored records that the new one makes copies. One look-up now serves both
  (12 ms a batch).

`activities_record` went from 52 to 34 ms a batch and `activities_judge` from 57 to 45 ms; on
days full of other records (the demo's last 90 days), 41 -> 40 ms and 212 -> 187 ms.
"""

from __future__ import annotations

import importlib

from geo.migrations.script import function_from, run_script

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- The areas' outlines in metres (UTM zone 49S, the city's), for distances that need not be
-- measured on the spheroid; indexed as every geometry is.
ALTER TABLE areas ADD COLUMN geom_utm geometry(MultiPolygon, 32749)
    GENERATED ALWAYS AS (ST_Transform(geom, 32749)) STORED;
CREATE INDEX areas_geom_utm_idx ON areas USING gist (geom_utm);

-- What a record says about itself alone, each with its reason in words, into the temporary
-- table `activity_own`: no other activity enters it, so it is judged before the locks, outside
-- the section that writers of the same staff member wait for. The records are the stored
-- `ids` (every record when NULL) or, `staged`, the batch `activities_record` is about to store.
CREATE OR REPLACE FUNCTION activity_judge_alone(ids uuid[], staged boolean) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    max_accuracy double precision := flag_setting('max_accuracy_m', 100);
    ahead        interval := make_interval(secs => flag_setting('future_tolerance_s', 300));
    border       double precision := flag_setting('border_m', 100);
    day_from     interval := make_interval(secs => 3600 * flag_setting('day_start_h', 6));
    day_to       interval := make_interval(secs => 3600 * flag_setting('day_end_h', 19));
    -- One constant geometry, which PostGIS prepares once for every point. Without a city
    -- outline nothing is judged outside it.
    city         geometry := (SELECT ST_Union(geom) FROM areas WHERE level = 'CITY');
BEGIN
    PERFORM activity_scratch();
    -- A staged batch's records are new: its rows join those of the transaction's earlier
    -- batches (one by one, after the database refused a batch; a refused record's savepoint
    -- takes its row away again).
    IF NOT staged THEN
        DELETE FROM activity_own;
    END IF;
    WITH
    -- Stored records, or the batch `activities_record` is about to store.
    given AS (
        SELECT g.id, g.staff_id, g.started_at, g.device_time, g.received_at, g.geom, g.area_id,
               g.accuracy_m, g.mock_location,
               (g.started_at AT TIME ZONE 'Asia/Jakarta')::date AS day
        FROM activities g WHERE NOT staged AND (ids IS NULL OR g.id = ANY(ids))
        UNION ALL
        SELECT b.id, b.staff_id, b.started_at, b.device_time, b.received_at, b.geom, b.area_id,
               b.accuracy_m, b.mock_location, (b.started_at AT TIME ZONE 'Asia/Jakarta')::date
        FROM activity_batch b WHERE staged
    ),
    -- Within an area assigned to the staff member on that WIB day: its own kelurahan, or
    -- failing that (an assigned kecamatan, an overlap of two kelurahan) the area's outline
    -- widened by the border buffer and the reported accuracy, or a kelurahan next to it.
    -- Cheapest test first: the own kelurahan, a neighbouring one, then the outlines (a box
    -- in degrees that surely holds the tolerance circle, before metres on the spheroid).
    -- Record by record, through the assignments' index (a lateral join): joined as a set,
    -- the planner took hundreds of records for one and compared every pair.
    own AS (
        SELECT s.id, s.staff_id, s.started_at, s.device_time, s.received_at, s.geom,
               s.accuracy_m, s.mock_location, s.day,
               s.area_id IS NULL AND NOT coalesce(ST_Covers(city, s.geom), true)
                   AND NOT ST_DWithin(city::geography, s.geom::geography,
                                      border + least(coalesce(s.accuracy_m, 0), max_accuracy))
                   AS outside_city,
               NOT coalesce(p.inside, false) AS outside_assignment,
               coalesce(p.vague, s.accuracy_m > max_accuracy, false) AS low_accuracy,
               greatest(s.started_at, s.device_time) > s.received_at + ahead AS future_time,
               extract(isodow FROM s.started_at AT TIME ZONE 'Asia/Jakarta') = 7
                   OR (s.started_at AT TIME ZONE 'Asia/Jakarta')::time
                      NOT BETWEEN '00:00'::time + day_from
                              AND '00:00'::time + day_to - interval '1 microsecond' AS off_hours
        FROM given s
        LEFT JOIN LATERAL (
            SELECT CASE WHEN a.own THEN true
                        WHEN EXISTS (SELECT 1 FROM area_neighbours n
                                     WHERE n.area_id = s.area_id
                                       AND n.neighbour_id = ANY(a.assigned_ids)) THEN true
                        ELSE EXISTS (
                            SELECT 1 FROM unnest(a.assigned) g
                            WHERE ST_Covers(g, s.geom)
                               OR (g && ST_Expand(s.geom, a.tolerance * 1.01 / (111320 * cos(
                                       radians(least(abs(ST_Y(s.geom)) + 0.01, 89)))),
                                                  a.tolerance * 1.01 / 110574)
                                   AND ST_DWithin(g::geography, s.geom::geography,
                                                  a.tolerance)))
                   END AS inside,
                   s.accuracy_m > max_accuracy AND NOT EXISTS (
                       SELECT 1 FROM unnest(a.assigned) g
                       WHERE ST_Covers(g, ST_Buffer(s.geom::geography, s.accuracy_m)::geometry))
                       AS vague
            FROM (SELECT border + least(coalesce(s.accuracy_m, 0), max_accuracy) AS tolerance,
                         bool_or(sa.area_id = s.area_id) AS own,
                         array_agg(x.id) AS assigned_ids, array_agg(x.geom) AS assigned
                  FROM staff_assignments sa JOIN areas x ON x.id = sa.area_id
                  WHERE sa.staff_id = s.staff_id AND sa.during @> s.day
                  HAVING count(*) > 0) a
        ) p ON true
    ),
    -- How far a given record judged OUTSIDE_ASSIGNMENT lies from the areas assigned to its
    -- staff member that day, the dearest reason to write: in metres of UTM zone 49S (the
    -- areas' stored `geom_utm`), within 0.01 % of the spheroid's across the city and a
    -- twentieth of its cost.
    far AS (
        SELECT f.id, min(ST_Distance(x.geom_utm, ST_Transform(f.geom, 32749))) AS metres,
               string_agg(DISTINCT x.name, ', ') AS names
        FROM own f
        JOIN staff_assignments sa ON sa.staff_id = f.staff_id AND sa.during @> f.day
        JOIN areas x ON x.id = sa.area_id
        WHERE f.outside_assignment
        GROUP BY f.id
    )
    INSERT INTO activity_own
    SELECT f.id, f.staff_id, f.started_at, f.outside_city, f.outside_assignment, f.low_accuracy,
           f.future_time, f.off_hours,
           -- In the order activity_flags_refresh lists every flag.
           array_remove(ARRAY[
               CASE WHEN f.outside_city THEN 'OUTSIDE_CITY' END,
               CASE WHEN f.outside_assignment THEN 'OUTSIDE_ASSIGNMENT' END,
               CASE WHEN f.low_accuracy THEN 'LOW_ACCURACY' END,
               CASE WHEN f.mock_location THEN 'MOCK_LOCATION' END,
               CASE WHEN f.future_time THEN 'FUTURE_TIME' END,
               CASE WHEN f.off_hours THEN 'OFF_HOURS' END], NULL),
           jsonb_strip_nulls(jsonb_build_object(
        'OUTSIDE_CITY', CASE WHEN f.outside_city THEN
            format('%s outside the city boundary, farther than %s of border and '
                   'accuracy allowance',
                   metres_text(ST_Distance(city::geography, f.geom::geography)),
                   metres_text(border + least(coalesce(f.accuracy_m, 0), max_accuracy))) END,
        'OUTSIDE_ASSIGNMENT', CASE WHEN NOT f.outside_assignment THEN NULL
            WHEN fa.names IS NOT NULL THEN
                format('%s from the nearest assigned area (%s), farther than %s of border '
                       'and accuracy allowance, and not in a kelurahan next to it',
                       metres_text(fa.metres), fa.names,
                       metres_text(border + least(coalesce(f.accuracy_m, 0), max_accuracy)))
            ELSE format('no area was assigned to this staff member on %s',
                        to_char(f.day, 'DD Mon YYYY')) END,
        'LOW_ACCURACY', CASE WHEN f.low_accuracy THEN
            format('GPS accuracy ±%s, worse than %s, and the circle does not fit '
                   'inside an assigned area', metres_text(f.accuracy_m),
                   metres_text(max_accuracy)) END,
        'MOCK_LOCATION', CASE WHEN f.mock_location THEN
            'the phone reported the location as mocked (a simulated-location app)' END,
        'FUTURE_TIME', CASE WHEN f.future_time THEN
            format('its time is %s min after the server received it',
                   round(extract(epoch FROM greatest(f.started_at, f.device_time)
                                            - f.received_at) / 60)) END,
        'OFF_HOURS', CASE WHEN NOT f.off_hours THEN NULL
            WHEN extract(isodow FROM f.started_at AT TIME ZONE 'Asia/Jakarta') = 7 THEN
                format('began %s WIB on a Sunday', wib_hm(f.started_at))
            ELSE format('began %s WIB, outside working hours %s to %s',
                        wib_hm(f.started_at), to_char(day_from, 'HH24:MI'),
                        to_char(day_to, 'HH24:MI')) END))
    FROM own f LEFT JOIN far fa ON fa.id = f.id;

END $fn$;

-- Judge activities `ids` (every one when NULL) and their neighbours. `judged_alone`: what each
-- given record says about itself is already in `activity_own` (activities_record put it there).
CREATE OR REPLACE FUNCTION activity_flags_refresh(ids uuid[] DEFAULT NULL,
                                       judged_alone boolean DEFAULT false) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    max_accuracy double precision := flag_setting('max_accuracy_m', 100);
    max_speed    double precision := flag_setting('max_speed_kmh', 120) / 3.6;  -- m/s
    burst_n      integer := flag_setting('burst_count', 5);
    win          interval := make_interval(secs => 60 * flag_setting('burst_minutes', 10));
    radius       double precision := flag_setting('burst_radius_m', 50);
    reach_speed  double precision := flag_setting('reach_kmh', 45) / 3.6;       -- m/s
    reach_min    double precision := flag_setting('reach_min_m', 1500);
    static_n     integer := flag_setting('static_count', 5);
    static_r     double precision := flag_setting('static_radius_m', 25);
    static_span  interval := make_interval(secs => 3600 * flag_setting('static_hours', 3));
    back_n       integer := flag_setting('backdate_count', 3);
    back_win     interval := make_interval(secs => 60 * flag_setting('backdate_minutes', 15));
    back_lag     interval := make_interval(secs => 3600 * flag_setting('backdate_lag_h', 1));
    copy_win     interval := make_interval(days => flag_setting('copy_days', 7)::integer);
    -- The same window in seconds, as the difference above compares it: whatever the session's
    -- time zone, bounds widened by it hold every copy the window holds.
    copy_span    interval := make_interval(secs => extract(epoch FROM copy_win));
    given_lo     timestamptz;
    given_hi     timestamptz;
    changed      integer;
    copies       integer;
    copy_ids     uuid[];
    copy_ats     timestamptz[];
BEGIN
    IF NOT judged_alone THEN
        PERFORM activity_judge_alone(ids, false);
    END IF;

    -- Writers of the same staff member take turns, so each one judges the other's rows too.
    -- The given records' time span comes along: the later reads of them by id are bounded by
    -- it, so that they search the partitions of those months only.
    SELECT min(x.lo), max(x.hi) INTO given_lo, given_hi
    FROM (SELECT staff_id::text AS s, min(started_at) AS lo, max(started_at) AS hi
          FROM activity_own WHERE ids IS NOT NULL GROUP BY 1 ORDER BY 1) x
    CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(hashtextextended('jangkau.flags:' || x.s,
                                                                      0))) l;
    IF ids IS NULL THEN     -- every record is given
        given_lo := '-infinity';
        given_hi := 'infinity';
    END IF;

    WITH
    -- Targets: each given activity's neighbours, every activity within its burst window, and
    -- its whole WIB day.
    -- (activity_span, written out: a SQL function with subqueries is not inlined, and called
    -- once a row it cost more than the lookups; here they are planned once, their partitions
    -- pruned as they run.)
    target AS (
        SELECT t.staff_id, range_agg(t.r) AS span FROM (
            SELECT g.staff_id, r.r
            FROM activities g
            CROSS JOIN LATERAL (
                SELECT max(x.started_at) AS at FROM activities x
                WHERE x.staff_id = g.staff_id AND x.started_at < g.started_at - win) p
            CROSS JOIN LATERAL (
                SELECT min(x.started_at) AS at FROM activities x
                WHERE x.staff_id = g.staff_id AND x.started_at > g.started_at + win) n
            CROSS JOIN LATERAL (
                SELECT date_trunc('day', g.started_at AT TIME ZONE 'Asia/Jakarta')
                       AT TIME ZONE 'Asia/Jakarta' AS d) d
            CROSS JOIN LATERAL (VALUES
                (tstzrange(least(g.started_at - win, p.at), greatest(g.started_at + win, n.at),
                           '[]')),
                (tstzrange(d.d, d.d + interval '1 day', '[)'))) r(r)
            WHERE g.id = ANY(ids) AND g.started_at BETWEEN given_lo AND given_hi
        ) t GROUP BY t.staff_id
    ),
    -- Context: what the targets are judged against (their neighbours, their burst windows),
    -- as disjoint time ranges of each staff member's activities.
    context AS MATERIALIZED (
        SELECT c.staff_id, c.target_span, lower(r) AS lo, upper(r) AS hi
        FROM (
            SELECT t.staff_id, t.span AS target_span,
                   range_agg(tstzrange(least(lower(r) - win, p.at), greatest(upper(r) + win, n.at),
                                       '[]')) AS span
            FROM target t CROSS JOIN LATERAL unnest(t.span) r
            CROSS JOIN LATERAL (
                SELECT max(x.started_at) AS at FROM activities x
                WHERE x.staff_id = t.staff_id AND x.started_at < lower(r) - win) p
            CROSS JOIN LATERAL (
                SELECT min(x.started_at) AS at FROM activities x
                WHERE x.staff_id = t.staff_id AND x.started_at > upper(r) + win) n
            GROUP BY t.staff_id, t.span
        ) c CROSS JOIN LATERAL unnest(c.span) r
    ),
    src AS (
        SELECT a.id, a.staff_id, a.started_at, a.ended_at, a.device_time, a.received_at,
               a.geom, a.area_id, a.accuracy_m, a.mock_location, a.flags, a.flag_notes,
               true AS target, true AS given
        FROM activities a WHERE ids IS NULL
        UNION ALL
        SELECT a.*, a.started_at <@ c.target_span, a.id = ANY(ids)
        FROM context c CROSS JOIN LATERAL (
            -- Range by range through (staff_id, started_at): OFFSET 0 keeps the planner from
            -- turning it into a scan of the whole table.
            SELECT x.id, x.staff_id, x.started_at, x.ended_at, x.device_time, x.received_at,
                   x.geom, x.area_id, x.accuracy_m, x.mock_location, x.flags, x.flag_notes
            FROM activities x
            WHERE x.staff_id = c.staff_id AND x.started_at BETWEEN c.lo AND c.hi OFFSET 0
        ) a
        WHERE ids IS NOT NULL
    ),
    -- The step from the previous activity (a zero gap counts as one second; from its end, a
    -- minute), and how many of the staff member's activities began in the window up to this one.
    step AS (
        SELECT s.*, (s.started_at AT TIME ZONE 'Asia/Jakarta')::date AS day,
               lag(s.geom) OVER w AS prev_geom,
               lag(s.started_at) OVER w AS prev_at,
               coalesce(lag(s.ended_at) OVER w, lag(s.started_at) OVER w) AS prev_end,
               least(coalesce(lag(s.accuracy_m) OVER w, 0), max_accuracy)
                   + least(coalesce(s.accuracy_m, 0), max_accuracy) AS slack,
               greatest(extract(epoch FROM s.started_at - lag(s.started_at) OVER w), 1) AS gap,
               greatest(extract(epoch FROM s.started_at
                                - coalesce(lag(s.ended_at) OVER w, lag(s.started_at) OVER w)),
                        60) AS reach_gap,
               count(*) OVER (PARTITION BY s.staff_id ORDER BY s.started_at
                              RANGE BETWEEN win PRECEDING AND CURRENT ROW) AS recent
        FROM src s
        WINDOW w AS (PARTITION BY s.staff_id ORDER BY s.started_at, s.id)
    ),
    -- Great-circle metres from the previous record, measured only when the planar bound (the
    -- distance in degrees times 157,253 m, never shorter) says it may matter.
    dist AS (
        SELECT s.*, CASE WHEN s.prev_geom IS NOT NULL
                          AND (s.prev_geom <-> s.geom) * 157253
                              > least(max_speed * s.gap, reach_min + s.slack)
                         THEN ST_DistanceSphere(s.prev_geom, s.geom) END AS metres
        FROM step s
    ),
    -- Too fast from start to start; too far from the previous visit's end, beyond both
    -- accuracy circles, for city travel. Both ends of a leap are flagged.
    seq AS (
        SELECT m.*,
               m.fast_in OR coalesce(lead(m.fast_in) OVER w, false) AS too_fast,

               lead(m.fast_in) OVER w AS fast_out, lead(m.far_in) OVER w AS far_out,
               lead(m.metres) OVER w AS next_metres, lead(m.gap) OVER w AS next_gap,
               lead(m.started_at) OVER w AS next_at, lead(m.slack) OVER w AS next_slack,
               lead(m.reach_gap) OVER w AS next_reach_gap
        FROM (
            SELECT d.*, coalesce(d.metres > max_speed * d.gap, false) AS fast_in,
                   coalesce(d.metres - d.slack > reach_min
                            AND d.metres - d.slack > reach_speed * d.reach_gap, false) AS far_in
            FROM dist d
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
        SELECT m.id, min(e.started_at) AS until FROM burst_end e
        JOIN seq m ON m.staff_id = e.staff_id
                  AND m.started_at BETWEEN e.started_at - win AND e.started_at
                  AND m.geom && e.box
                  AND ST_DWithin(m.geom::geography, e.geom::geography, radius)
        GROUP BY m.id
    ),
    -- A whole WIB day from one spot: static_n or more records over static_span or longer, all
    -- within static_r metres (UTM 49S) of the centre of their smallest enclosing circle.
    static_day AS (
        SELECT d.staff_id, d.day, d.n, d.first_at, d.last_at, d.r
        FROM (
            SELECT s.staff_id, s.day, count(*) AS n, min(s.started_at) AS first_at,
                   max(s.started_at) AS last_at,
                   (ST_MinimumBoundingRadius(ST_Transform(ST_Collect(s.geom), 32749))).radius
                       AS r
            FROM seq s GROUP BY s.staff_id, s.day
            HAVING count(*) >= static_n AND max(s.started_at) - min(s.started_at) >= static_span
        ) d WHERE d.r <= static_r
    ),
    -- Entered long after the visit ended (device_time, the phone's clock when it was saved),
    -- together with others of the same day entered within back_win of it.
    late AS (
        SELECT s.id, s.staff_id, s.day, s.device_time,
               s.device_time - coalesce(s.ended_at, s.started_at) AS lag
        FROM seq s WHERE s.device_time > coalesce(s.ended_at, s.started_at) + back_lag
    ),
    backdated AS (
        SELECT l.id, count(*) AS n, l.device_time, l.lag
        FROM late l JOIN late o ON o.staff_id = l.staff_id AND o.day = l.day
                               AND o.device_time BETWEEN l.device_time - back_win
                                                     AND l.device_time + back_win
        GROUP BY l.id, l.device_time, l.lag HAVING count(*) >= back_n
    ),
    -- Every other staff member's record at exactly a given record's point in the same week,
    -- found once through the GiST index: of two, the one saved later on its phone is the
    -- copy, whichever of them is the given one.
    same_spot AS MATERIALIZED (
        SELECT s.id, s.started_at, o.id AS other_id, o.started_at AS other_at,
               o.flags AS other_flags,
               (coalesce(o.device_time, o.received_at), o.id)
                   < (coalesce(s.device_time, s.received_at), s.id) AS other_first
        FROM seq s
        JOIN activities o ON o.geom && s.geom AND o.geom = s.geom AND o.staff_id <> s.staff_id
                         -- (a difference, so that only the GiST index is used: a week is
                         -- many rows; the batch's whole span, a constant, prunes the months)
                         AND o.started_at - s.started_at BETWEEN -copy_win AND copy_win
                         AND o.started_at BETWEEN given_lo - copy_span AND given_hi + copy_span
        WHERE s.given
    ),
    -- A given record saved after another's at its point is a copy.
    copied AS (
        SELECT c.id, min(c.other_at) AS other_at FROM same_spot c WHERE c.other_first
        GROUP BY c.id
    ),
    -- A stored record saved after a given one at its point is a copy that reached the server
    -- before its original (the original's phone was offline): flagged below, once this
    -- statement has written.
    late_copy AS (
        SELECT c.other_id AS id, min(c.started_at) AS other_at FROM same_spot c
        WHERE NOT c.other_first AND NOT c.other_id = ANY(ids)
          AND NOT 'COPIED_LOCATION' = ANY(c.other_flags)
        GROUP BY c.other_id
    ),
    -- Each flag, true or false. A given record is judged afresh; a neighbour keeps what it
    -- says about itself.
    judged AS (
        SELECT s.id, s.given, s.flags AS old_flags, s.flag_notes AS old_notes, s.staff_id,
               s.started_at, s.day, s.geom, s.accuracy_m, s.metres, s.slack, s.gap,
               s.reach_gap, s.prev_at, s.prev_end, s.fast_in, s.fast_out, s.far_in, s.far_out,
               s.next_metres, s.next_gap, s.next_at, s.next_slack, s.next_reach_gap,
               s.device_time, s.received_at,
               b.until AS burst_until, sd.n AS static_n, sd.first_at AS static_from,
               sd.last_at AS static_to, sd.r AS static_r, bd.n AS back_n,
               bd.device_time AS back_at, bd.lag AS back_lag, cp.other_at AS copied_at,
               o.notes AS own_notes,
               CASE WHEN s.given THEN o.outside_city
                    ELSE 'OUTSIDE_CITY' = ANY(s.flags) END AS outside_city,
               CASE WHEN s.given THEN o.outside_assignment
                    ELSE 'OUTSIDE_ASSIGNMENT' = ANY(s.flags) END AS outside_assignment,
               CASE WHEN s.given THEN o.low_accuracy
                    ELSE 'LOW_ACCURACY' = ANY(s.flags) END AS low_accuracy,
               CASE WHEN s.given THEN s.mock_location
                    ELSE 'MOCK_LOCATION' = ANY(s.flags) END AS mock_location,
               s.fast_in OR coalesce(s.fast_out, false) AS impossible_speed,
               CASE WHEN s.given THEN o.future_time
                    ELSE 'FUTURE_TIME' = ANY(s.flags) END AS future_time,
               b.id IS NOT NULL AS duplicate_burst,
               -- Not where IMPOSSIBLE_SPEED already says more.
               NOT (s.fast_in OR coalesce(s.fast_out, false))
                   AND (s.far_in OR coalesce(s.far_out, false)) AS unreachable,
               sd.staff_id IS NOT NULL AS static_day,
               CASE WHEN s.given THEN cp.id IS NOT NULL
                    ELSE 'COPIED_LOCATION' = ANY(s.flags) END AS copied_location,
               bd.id IS NOT NULL AS backdated_burst,
               CASE WHEN s.given THEN o.off_hours
                    ELSE 'OFF_HOURS' = ANY(s.flags) END AS off_hours
        FROM seq s
        LEFT JOIN activity_own o ON o.id = s.id
        LEFT JOIN burst b ON b.id = s.id
        LEFT JOIN static_day sd ON sd.staff_id = s.staff_id AND sd.day = s.day
        LEFT JOIN backdated bd ON bd.id = s.id
        LEFT JOIN copied cp ON cp.id = s.id
        WHERE s.target
    ),
    flagged AS (
        SELECT j.*, array_remove(ARRAY[
            CASE WHEN j.outside_city THEN 'OUTSIDE_CITY' END,
            CASE WHEN j.outside_assignment THEN 'OUTSIDE_ASSIGNMENT' END,
            CASE WHEN j.low_accuracy THEN 'LOW_ACCURACY' END,
            CASE WHEN j.mock_location THEN 'MOCK_LOCATION' END,
            CASE WHEN j.impossible_speed THEN 'IMPOSSIBLE_SPEED' END,
            CASE WHEN j.future_time THEN 'FUTURE_TIME' END,
            CASE WHEN j.duplicate_burst THEN 'DUPLICATE_BURST' END,
            CASE WHEN j.unreachable THEN 'UNREACHABLE' END,
            CASE WHEN j.static_day THEN 'STATIC_DAY' END,
            CASE WHEN j.copied_location THEN 'COPIED_LOCATION' END,
            CASE WHEN j.backdated_burst THEN 'BACKDATED_BURST' END,
            CASE WHEN j.off_hours THEN 'OFF_HOURS' END], NULL) AS flags
        FROM judged j
    ),
    -- Each flag's reason, in words and numbers, written only for records with flags. A
    -- neighbour's flags about itself keep the reason they were given with.
    fresh AS MATERIALIZED (
        SELECT f.id, f.old_flags, f.old_notes, f.flags,
               -- (NULL where every reason is missing, as an aggregate of none would be)
               CASE WHEN f.flags = '{}' THEN '{}'::jsonb ELSE nullif(jsonb_strip_nulls(
                   jsonb_build_object(
            'OUTSIDE_CITY', CASE WHEN NOT f.outside_city THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'OUTSIDE_CITY'
                ELSE f.own_notes ->> 'OUTSIDE_CITY' END,
            'OUTSIDE_ASSIGNMENT', CASE WHEN NOT f.outside_assignment THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'OUTSIDE_ASSIGNMENT'
                ELSE f.own_notes ->> 'OUTSIDE_ASSIGNMENT' END,
            'LOW_ACCURACY', CASE WHEN NOT f.low_accuracy THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'LOW_ACCURACY'
                ELSE f.own_notes ->> 'LOW_ACCURACY' END,
            'MOCK_LOCATION', CASE WHEN NOT f.mock_location THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'MOCK_LOCATION'
                ELSE f.own_notes ->> 'MOCK_LOCATION' END,
            'IMPOSSIBLE_SPEED', CASE WHEN NOT f.impossible_speed THEN NULL
                WHEN f.fast_in THEN format('%s km/h from the previous record at %s, %s away',
                    round(f.metres / f.gap * 3.6), wib_hm(f.prev_at), metres_text(f.metres))
                ELSE format('%s km/h to the next record at %s, %s away',
                    round(f.next_metres / f.next_gap * 3.6), wib_hm(f.next_at),
                    metres_text(f.next_metres)) END,
            'FUTURE_TIME', CASE WHEN NOT f.future_time THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'FUTURE_TIME'
                ELSE f.own_notes ->> 'FUTURE_TIME' END,
            'DUPLICATE_BURST', CASE WHEN f.duplicate_burst THEN
                format('one of %s or more records within %s min and %s, up to %s',
                       burst_n, round(extract(epoch FROM win) / 60), metres_text(radius),
                       wib_hm(f.burst_until)) END,
            'UNREACHABLE', CASE WHEN NOT f.unreachable THEN NULL
                WHEN f.far_in THEN format(
                    '%s from the previous visit (ended %s) beyond both accuracy circles, in %s '
                    'min: %s km/h in a straight line, over the %s km/h of city travel',
                    metres_text(f.metres - f.slack), wib_hm(f.prev_end),
                    round(f.reach_gap / 60), round((f.metres - f.slack) / f.reach_gap * 3.6),
                    round(reach_speed * 3.6))
                ELSE format(
                    '%s to the next visit (at %s) beyond both accuracy circles, in %s min: '
                    '%s km/h in a straight line, over the %s km/h of city travel',
                    metres_text(f.next_metres - f.next_slack), wib_hm(f.next_at),
                    round(f.next_reach_gap / 60),
                    round((f.next_metres - f.next_slack) / f.next_reach_gap * 3.6),
                    round(reach_speed * 3.6)) END,
            'STATIC_DAY', CASE WHEN f.static_day THEN
                format('all %s records of %s (%s to %s) lie within %s of one spot',
                       f.static_n, to_char(f.day, 'DD Mon YYYY'), wib_hm(f.static_from),
                       wib_hm(f.static_to), metres_text(greatest(f.static_r, 1))) END,
            'COPIED_LOCATION', CASE WHEN NOT f.copied_location THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'COPIED_LOCATION'
                ELSE format('exactly the coordinates of another staff member''s record of %s %s',
                            to_char(f.copied_at AT TIME ZONE 'Asia/Jakarta', 'DD Mon YYYY'),
                            wib_hm(f.copied_at)) END,
            'BACKDATED_BURST', CASE WHEN f.backdated_burst THEN
                format('entered at %s with %s other records of the day within %s min, %s h '
                       'after the visit it claims ended', wib_hm(f.back_at), f.back_n - 1,
                       round(extract(epoch FROM back_win) / 60),
                       to_char(extract(epoch FROM f.back_lag) / 3600, 'FM990.0')) END,
            'OFF_HOURS', CASE WHEN NOT f.off_hours THEN NULL
                WHEN NOT f.given THEN f.old_notes ->> 'OFF_HOURS'
                ELSE f.own_notes ->> 'OFF_HOURS' END
                   )), '{}') END AS notes
        FROM flagged f
    ),
    -- No flags: nothing to review. A rejection stands. An acceptance stands unless a flag
    -- appears that it was not given with. Anything else waits for a reviewer.
    updated AS (
        UPDATE activities a
        SET flags = f.flags, flag_notes = f.notes, confidence = flag_confidence(f.flags),
            review = CASE WHEN f.flags = '{}' THEN 'NONE'
                          WHEN a.review = 'REJECTED' THEN 'REJECTED'
                          WHEN a.review = 'ACCEPTED' AND f.flags <@ a.flags THEN 'ACCEPTED'
                          ELSE 'PENDING' END
        FROM fresh f
        WHERE a.id = f.id
          AND (a.flags IS DISTINCT FROM f.flags OR a.flag_notes IS DISTINCT FROM f.notes)
          -- The changed ids as one array: the planner looks them up by key, whatever it
          -- guessed of the size of `fresh`, rather than scanning the table to join them.
          AND a.id = ANY(ARRAY(SELECT c.id FROM fresh c
                               WHERE c.flags IS DISTINCT FROM c.old_flags
                                  OR c.notes IS DISTINCT FROM c.old_notes))
        RETURNING f.flags IS DISTINCT FROM f.old_flags AS flags_changed
    )
    SELECT (SELECT count(*) FILTER (WHERE u.flags_changed) FROM updated u),
           ARRAY(SELECT c.id FROM late_copy c ORDER BY c.id),
           ARRAY(SELECT c.other_at FROM late_copy c ORDER BY c.id)
    INTO changed, copy_ids, copy_ats;

    -- The copies that reached the server before their originals, found above.
    WITH copy AS (SELECT * FROM unnest(copy_ids, copy_ats) AS c(id, other_at)),
    marked AS (
        SELECT c.id, array(SELECT f FROM unnest(ARRAY[
                   'OUTSIDE_CITY', 'OUTSIDE_ASSIGNMENT', 'LOW_ACCURACY', 'MOCK_LOCATION',
                   'IMPOSSIBLE_SPEED', 'FUTURE_TIME', 'DUPLICATE_BURST', 'UNREACHABLE',
                   'STATIC_DAY', 'COPIED_LOCATION', 'BACKDATED_BURST', 'OFF_HOURS'])
                   WITH ORDINALITY u(f, i)
                           WHERE f = ANY(a.flags) OR f = 'COPIED_LOCATION' ORDER BY i) AS flags,
               a.flag_notes || jsonb_build_object('COPIED_LOCATION', format(
                   'exactly the coordinates of another staff member''s record of %s %s',
                   to_char(c.other_at AT TIME ZONE 'Asia/Jakarta', 'DD Mon YYYY'),
                   wib_hm(c.other_at))) AS notes
        FROM copy c JOIN activities a ON a.id = c.id
    )
    UPDATE activities a
    SET flags = m.flags, flag_notes = m.notes, confidence = flag_confidence(m.flags),
        review = CASE WHEN a.review = 'REJECTED' THEN 'REJECTED' ELSE 'PENDING' END
    FROM marked m WHERE a.id = m.id;
    GET DIAGNOSTICS copies = ROW_COUNT;
    changed := changed + copies;
    RETURN changed;
END $fn$;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    """0020's functions back, read from its frozen script; then the column they do not use."""
    before = importlib.import_module("geo.migrations.versions.0020_judged_before_stored").UPGRADE
    run_script(function_from(before, "activity_judge_alone") + "\n"
               + function_from(before, "activity_flags_refresh") + "\n"
               + "ALTER TABLE areas DROP COLUMN geom_utm;")

"""Every SQL text of the references, in one file a reviewer can read top to bottom.

Positional parameters are asyncpg's ($1, $2); the PostGraphile peer's function reuses the
coverage text, where $1 and $2 are its arguments.
"""

from __future__ import annotations

# What Jangkau counts by default: activities without plausibility flags, or whose flags a
# reviewer accepted (geo.filters.build_where).
COUNTED = "a.review IN ('NONE', 'ACCEPTED')"


def _per_kelurahan(key: str) -> str:
    """The per-kelurahan aggregate over the base table for [$1, $2), zeros included, by `key`."""
    return f"""
        SELECT k.{key}, count(a.id) AS activities, count(DISTINCT a.staff_id) AS distinct_staff,
               coalesce(sum(a.citizens_served), 0) AS citizens_served,
               count(a.id) FILTER (WHERE a.outcome_met) AS outcomes_met,
               max(a.started_at) AS last_activity_at
        FROM areas k
        LEFT JOIN activities a ON a.area_id = k.id AND a.started_at >= $1 AND a.started_at < $2
                              AND {COUNTED}
        WHERE k.level = 'KELURAHAN'
        GROUP BY k.{key}"""


# The 30- and 90-day per-kelurahan aggregate over the base table: zeros included, by code.
COVERAGE = f"{_per_kelurahan('code')}\n    ORDER BY k.code\n"

# The choropleth as one FeatureCollection, figures and target attainment per kelurahan, written
# by json_agg. $1, $2: the period's instants; $3, $4: its first and last WIB day; $5: the band of
# precomputed shapes for the zoom (geo.shapes). Targets are prorated to the days of their period
# inside the asked one; the actual is the met outcomes of the indicator in those days, counted
# in one pass per (kelurahan, indicator, WIB day).
COVERAGE_MAP = f"""
    WITH cov AS ({_per_kelurahan('id')}
    ),
    tg AS (
        SELECT t.id, t.area_id, t.indicator_code,
               t.target_value * (upper(o.overlap) - lower(o.overlap))
                   / (upper(t.period) - lower(t.period))::float8 AS target,
               o.overlap
        FROM targets t JOIN areas k ON k.id = t.area_id AND k.level = 'KELURAHAN'
        CROSS JOIN LATERAL (SELECT t.period * daterange($3, $4, '[]') AS overlap) o
        WHERE t.period && daterange($3, $4, '[]')
    ),
    met AS (
        SELECT a.area_id, a.outcome_code, (a.started_at AT TIME ZONE 'Asia/Jakarta')::date AS d,
               count(*) AS n
        FROM activities a
        WHERE a.started_at >= $1 AND a.started_at < $2 AND a.outcome_met AND {COUNTED}
        GROUP BY 1, 2, 3
    ),
    per_target AS (
        SELECT tg.id, tg.area_id, tg.indicator_code, tg.target, coalesce(sum(met.n), 0) AS actual
        FROM tg LEFT JOIN met ON met.area_id = tg.area_id AND met.outcome_code = tg.indicator_code
                             AND met.d <@ tg.overlap
        GROUP BY tg.id, tg.area_id, tg.indicator_code, tg.target
    ),
    att AS (
        SELECT area_id, indicator_code AS indicator, sum(target) AS target, sum(actual) AS actual
        FROM per_target GROUP BY 1, 2
    ),
    att_json AS (
        SELECT area_id, avg(actual / target) AS mean_ratio,
               json_agg(json_build_object('indicator', indicator, 'target', target,
                                          'actual', actual, 'ratio', actual / target,
                                          'met', actual >= target) ORDER BY indicator) AS items
        FROM att GROUP BY area_id
    )
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
        json_build_object(
            'type', 'Feature', 'id', k.code,
            'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(s.geom), 6)::json,
            'properties', json_build_object(
                'code', k.code, 'name', k.name, 'level', k.level, 'areaKm2', k.area_m2 / 1e6,
                'activities', cov.activities, 'distinctStaff', cov.distinct_staff,
                'citizensServed', cov.citizens_served, 'outcomesMet', cov.outcomes_met,
                'outcomeRate', cov.outcomes_met::float8 / nullif(cov.activities, 0),
                'lastActivityAt', cov.last_activity_at,
                'activitiesPerKm2', cov.activities / (k.area_m2 / 1e6),
                'attainment', coalesce(t.items, '[]'::json),
                'attainmentRatio', t.mean_ratio))
        ORDER BY k.code), '[]'::json))::text
    FROM cov JOIN areas k ON k.id = cov.id
    LEFT JOIN area_shapes s ON s.area_id = k.id AND s.band = $5
    LEFT JOIN att_json t ON t.area_id = k.id
"""

# The newest page of activities with their location and staff (lists show flagged ones too).
ACTIVITIES_PAGE = """
    SELECT a.id, a.started_at, a.category_code, ST_AsGeoJSON(a.geom, 6) AS location,
           s.id AS staff_id, s.name AS staff_name
    FROM activities a JOIN staff s ON s.id = a.staff_id
    ORDER BY a.started_at DESC, a.id DESC
    LIMIT $1
"""

# Bulk load reference: the loaded rows, copied into a bare table, then one spatial UPDATE.
EXPORT = """
    SELECT id, staff_id, category_code, started_at, ended_at, device_time, received_at, geom,
           accuracy_m, mock_location, citizens_served, outcome_code, outcome_met, note
    FROM activities
"""
RAW_COLUMNS = ["id", "staff_id", "category_code", "started_at", "ended_at", "device_time",
               "received_at", "geom", "accuracy_m", "mock_location", "citizens_served",
               "outcome_code", "outcome_met", "note"]
RAW_TABLE = """
    CREATE TABLE bench_raw_activities (
        id uuid, staff_id uuid, category_code text, started_at timestamptz,
        ended_at timestamptz, device_time timestamptz, received_at timestamptz,
        geom geometry(Point, 4326), accuracy_m double precision, mock_location boolean,
        citizens_served integer, outcome_code text, outcome_met boolean, note text,
        area_id integer
    )
"""
RAW_ASSIGN = """
    UPDATE bench_raw_activities t SET area_id = p.area_id
    FROM area_parts p WHERE ST_Covers(p.geom, t.geom)
"""
RAW_DROP = "DROP TABLE IF EXISTS bench_raw_activities"
JANGKAU_ASSIGNED = "SELECT count(*) FROM activities WHERE area_id IS NOT NULL"
RAW_ASSIGNED = "SELECT count(*) FROM bench_raw_activities WHERE area_id IS NOT NULL"
COUNT = "SELECT count(*) FROM activities"

# recordActivities' reference: each row its own INSERT (asyncpg `executemany`, one transaction a
# batch), so the kelurahan trigger runs per row and the statement triggers (rollups, NOTIFY) per
# row too. No flags are judged: that is work the reference does not do.
RECORD_INSERT = """
    INSERT INTO activities (id, staff_id, category_code, started_at, ended_at, device_time, geom,
        accuracy_m, mock_location, citizens_served, outcome_code, outcome_met, note)
    VALUES ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_MakePoint($7, $8), 4326), $9, $10, $11, $12,
            $13, $14)
"""
# Each reference row's kelurahan ($1 ids, $2 longitudes, $3 latitudes), to sort a batch by.
RECORD_AREAS = """
    SELECT id, kelurahan_at(ST_SetSRID(ST_MakePoint(lon, lat), 4326))
    FROM unnest($1::uuid[], $2::float8[], $3::float8[]) AS t(id, lon, lat)
"""
# A reference batch takes this lock shared; one sent again after a deadlock, exclusive.
RECORD_TOGETHER = "SELECT pg_advisory_xact_lock_shared(hashtext('jangkau.bench.record'))"
RECORD_ALONE = "SELECT pg_advisory_xact_lock(hashtext('jangkau.bench.record'))"
RECORD_JUDGE = "SELECT activity_flags_refresh($1::uuid[])"
RECORD_DELETE = "DELETE FROM activities WHERE id = ANY($1)"
# Every row Jangkau recorded in the scenario: received since it began, on the days it records
# (the references delete their own copies by id).
RECORDED_DELETE = """
    DELETE FROM activities WHERE received_at >= $1
      AND started_at < $2::date::timestamp AT TIME ZONE 'Asia/Jakarta'
"""
# Rollup rows of the WIB days [$1, $2) that differ from the base table (0 when exact): the
# per-day figures, and each staff member's days of presence.
ROLLUP_DRIFT = """
    WITH base_day AS (
        SELECT wib_day(started_at) AS day, area_id, category_code, outcome_code, count(*)::int,
               (count(*) FILTER (WHERE outcome_met))::int, sum(citizens_served)::bigint,
               max(started_at)
        FROM activities a
        WHERE started_at >= $1::date::timestamp AT TIME ZONE 'Asia/Jakarta'
          AND started_at < $2::date::timestamp AT TIME ZONE 'Asia/Jakarta' AND """ + COUNTED + """
        GROUP BY 1, 2, 3, 4
    ),
    roll_day AS (
        SELECT day, area_id, category_code, outcome_code, activities, met, citizens, last_at
        FROM rollup_area_day WHERE day >= $1 AND day < $2
    ),
    base_presence AS (
        SELECT DISTINCT staff_id, area_id, category_code, wib_day(started_at) AS day
        FROM activities a
        WHERE started_at >= $1::date::timestamp AT TIME ZONE 'Asia/Jakarta'
          AND started_at < $2::date::timestamp AT TIME ZONE 'Asia/Jakarta' AND """ + COUNTED + """
    ),
    roll_presence AS (
        SELECT r.staff_id, r.area_id, r.category_code, d::date AS day
        FROM rollup_presence r
        CROSS JOIN LATERAL unnest(r.days * datemultirange(daterange($1, $2))) u
        CROSS JOIN LATERAL generate_series(lower(u), upper(u) - 1, interval '1 day') d
        WHERE r.days && datemultirange(daterange($1, $2))
    )
    SELECT (SELECT count(*) FROM ((TABLE base_day EXCEPT TABLE roll_day)
                                  UNION ALL (TABLE roll_day EXCEPT TABLE base_day)) x)
         + (SELECT count(*) FROM ((TABLE base_presence EXCEPT TABLE roll_presence)
                                  UNION ALL (TABLE roll_presence EXCEPT TABLE base_presence)) y)
"""

# What PostGraphile serves beyond the tables, as a team would add it: the coverage aggregate,
# and the activities through a view.
PEER_SCHEMA = "peer"
PEER_OBJECTS = f"""
    DROP SCHEMA IF EXISTS {PEER_SCHEMA} CASCADE;
    CREATE SCHEMA {PEER_SCHEMA};
    CREATE TYPE {PEER_SCHEMA}.coverage_row AS (
        code text, activities bigint, distinct_staff bigint, citizens_served bigint,
        outcomes_met bigint, last_activity_at timestamptz
    );
    CREATE FUNCTION {PEER_SCHEMA}.coverage_kelurahan(t0 timestamptz, t1 timestamptz)
        RETURNS SETOF {PEER_SCHEMA}.coverage_row LANGUAGE sql STABLE AS $$ {COVERAGE} $$;
    -- PostGraphile v4 does not serve a partitioned table: the same rows through a view, whose
    -- key and foreign key it learns from smart comments (activityById, staffByStaffId).
    CREATE VIEW {PEER_SCHEMA}.activities AS SELECT * FROM public.activities;
    COMMENT ON VIEW {PEER_SCHEMA}.activities IS
        E'@primaryKey id\n@foreignKey (staff_id) references public.staff (id)';
"""

# For the report: what the database is.
VERSIONS = "SELECT current_setting('server_version'), postgis_lib_version(), " \
           "current_setting('jit')"

# For the scale run: heap and index bytes of each relation that exists, its partitions summed
# (pg_partition_tree has no rows for a plain table, hence the union with the table itself).
SIZES = """
    SELECT t.name, sum(pg_table_size(p.rel))::bigint AS heap,
           sum(pg_indexes_size(p.rel))::bigint AS indexes
    FROM (SELECT name FROM unnest($1::text[]) name WHERE to_regclass(name) IS NOT NULL) t
    CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(t.name::regclass)
                        UNION SELECT t.name::regclass) p(rel)
    GROUP BY t.name ORDER BY t.name
"""
DATABASE_SIZE = "SELECT pg_database_size(current_database())"

# Partition pruning (bench.pruning): a copy of `activities` of the other kind in schema `part`
# (partitioned by WIB month, as 0012 does it, when `public.activities` is a plain table, and plain
# when it is partitioned) with the btree indexes the two queries below use; the same SQL texts
# then run against either table through search_path.
PART_SCHEMA = "part"
PUBLIC_PARTITIONED = "SELECT relkind = 'p' FROM pg_class WHERE oid = 'public.activities'::regclass"
PART_TABLE = f"""
    DROP SCHEMA IF EXISTS {PART_SCHEMA} CASCADE;
    CREATE SCHEMA {PART_SCHEMA};
    CREATE TABLE {PART_SCHEMA}.activities (LIKE public.activities INCLUDING DEFAULTS)
"""
PART_MONTHS = """
    SELECT (date_trunc('month', min(started_at) AT TIME ZONE 'Asia/Jakarta'))::date,
           (date_trunc('month', max(started_at) AT TIME ZONE 'Asia/Jakarta'))::date
    FROM public.activities
"""
PART_COPY = f"INSERT INTO {PART_SCHEMA}.activities SELECT * FROM public.activities"
PART_INDEXES = [
    f"CREATE INDEX ON {PART_SCHEMA}.activities (area_id, started_at)",
    f"CREATE INDEX ON {PART_SCHEMA}.activities (started_at, id)",
    f"ANALYZE {PART_SCHEMA}.activities",
]

# A page of the newest activities of a period ($2, $3), with location and staff.
ACTIVITIES_PERIOD_PAGE = """
    SELECT a.id, a.started_at, a.category_code, ST_AsGeoJSON(a.geom, 6) AS location,
           s.id AS staff_id, s.name AS staff_name
    FROM activities a JOIN staff s ON s.id = a.staff_id
    WHERE a.started_at >= $2 AND a.started_at < $3
    ORDER BY a.started_at DESC, a.id DESC
    LIMIT $1
"""

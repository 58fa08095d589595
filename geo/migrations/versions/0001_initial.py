"""Initial data model: units, staff, areas, assignments, categories, indicators, targets,
activities, with the kelurahan of each activity assigned in the database at write time.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NIP_RE = (
    r"^(19[4-9][0-9]|20[0-2][0-9])(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
    r"(19[6-9][0-9]|20[0-9]{2})(0[1-9]|1[0-2])[12][0-9]{3}$"
)

UPGRADE = rf"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE units (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9][A-Z0-9._-]{{1,39}}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('OPD', 'KECAMATAN', 'KELURAHAN', 'UPT')),
    parent_id   integer REFERENCES units (id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX units_parent_idx ON units (parent_id);

CREATE TABLE staff (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    nip         char(18) NOT NULL UNIQUE CHECK (nip ~ '{NIP_RE}'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_id     integer NOT NULL REFERENCES units (id),
    active      boolean NOT NULL DEFAULT true
);
CREATE INDEX staff_unit_idx ON staff (unit_id);

CREATE TABLE areas (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level       text NOT NULL CHECK (level IN ('CITY', 'KECAMATAN', 'KELURAHAN')),
    parent_id   integer REFERENCES areas (id),
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    area_m2     double precision NOT NULL,
    label_point geometry(Point, 4326) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE level
        WHEN 'CITY' THEN code ~ '^[0-9]{{2}}\.[0-9]{{2}}$'
        WHEN 'KECAMATAN' THEN code ~ '^[0-9]{{2}}\.[0-9]{{2}}\.[0-9]{{2}}$'
        ELSE code ~ '^[0-9]{{2}}\.[0-9]{{2}}\.[0-9]{{2}}\.[0-9]{{4}}$' END),
    CHECK ((level = 'CITY') = (parent_id IS NULL))
);
CREATE INDEX areas_geom_gist ON areas USING gist (geom);
CREATE INDEX areas_label_gist ON areas USING gist (label_point);
CREATE INDEX areas_parent_idx ON areas (parent_id);
CREATE INDEX areas_level_idx ON areas (level, code);

-- Every (ancestor, descendant) pair, self included: "an area and everything inside it".
CREATE TABLE area_closure (
    ancestor_id   integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    descendant_id integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    depth         smallint NOT NULL CHECK (depth >= 0),
    PRIMARY KEY (ancestor_id, descendant_id)
);
CREATE INDEX area_closure_desc_idx ON area_closure (descendant_id, ancestor_id);

-- Kelurahan cut into small pieces (ST_Subdivide): point-in-polygon touches few vertices.
CREATE TABLE area_parts (
    area_id integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    code    text NOT NULL,
    geom    geometry(Polygon, 4326) NOT NULL
);
CREATE INDEX area_parts_geom_gist ON area_parts USING gist (geom);
CREATE INDEX area_parts_area_idx ON area_parts (area_id);

CREATE FUNCTION areas_derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.area_m2 := ST_Area(NEW.geom::geography);
    NEW.label_point := ST_PointOnSurface(NEW.geom);
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER areas_derive BEFORE INSERT OR UPDATE OF geom ON areas
    FOR EACH ROW EXECUTE FUNCTION areas_derive();

CREATE FUNCTION areas_subdivide() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM area_parts WHERE area_id = NEW.id;
    IF NEW.level = 'KELURAHAN' THEN
        INSERT INTO area_parts (area_id, code, geom)
        SELECT NEW.id, NEW.code, ST_Subdivide(NEW.geom, 64);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER areas_subdivide AFTER INSERT OR UPDATE OF geom, level, code ON areas
    FOR EACH ROW EXECUTE FUNCTION areas_subdivide();

-- The kelurahan a point falls in. Where neighbours overlap, the lowest code wins, so the
-- answer never depends on row order. NULL outside every kelurahan.
CREATE FUNCTION kelurahan_at(p geometry) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT area_id FROM area_parts WHERE ST_Covers(geom, p) ORDER BY code LIMIT 1
$$;

CREATE TABLE staff_assignments (
    id       serial PRIMARY KEY,
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    area_id  integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    during   daterange NOT NULL CHECK (NOT isempty(during) AND NOT lower_inf(during)),
    EXCLUDE USING gist (staff_id WITH =, area_id WITH =, during WITH &&)
);
CREATE INDEX staff_assignments_area_idx ON staff_assignments (area_id);

CREATE TABLE service_categories (
    code    text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{{1,39}}$'),
    name    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_id integer NOT NULL REFERENCES units (id)
);

CREATE TABLE indicators (
    code    text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{{1,39}}$'),
    name    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_id integer NOT NULL REFERENCES units (id)
);

CREATE TABLE targets (
    id             serial PRIMARY KEY,
    indicator_code text NOT NULL REFERENCES indicators (code),
    area_id        integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    period         daterange NOT NULL
        CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)),
    target_value   double precision NOT NULL CHECK (target_value > 0 AND target_value < 1e9),
    EXCLUDE USING gist (indicator_code WITH =, area_id WITH =, period WITH &&)
);
CREATE INDEX targets_area_idx ON targets (area_id);

CREATE TABLE activities (
    id                uuid PRIMARY KEY,
    staff_id          uuid NOT NULL REFERENCES staff (id),
    category_code     text NOT NULL REFERENCES service_categories (code),
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    device_time       timestamptz,
    received_at       timestamptz NOT NULL DEFAULT now(),
    geom              geometry(Point, 4326) NOT NULL
        CHECK (ST_X(geom) BETWEEN -180 AND 180 AND ST_Y(geom) BETWEEN -90 AND 90),
    accuracy_m        double precision CHECK (accuracy_m >= 0 AND accuracy_m <= 100000),
    mock_location     boolean NOT NULL DEFAULT false,
    citizens_served   integer NOT NULL CHECK (citizens_served BETWEEN 0 AND 10000),
    outcome_code      text REFERENCES indicators (code),
    outcome_met       boolean NOT NULL,
    note              text CHECK (length(note) <= 4000),
    area_id           integer REFERENCES areas (id) ON DELETE SET NULL,
    outside_kelurahan boolean NOT NULL DEFAULT false,
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK (outside_kelurahan = (area_id IS NULL))
);
CREATE INDEX activities_geom_gist ON activities USING gist (geom);
CREATE INDEX activities_area_time_idx ON activities (area_id, started_at);
CREATE INDEX activities_staff_time_idx ON activities (staff_id, started_at);
CREATE INDEX activities_time_idx ON activities (started_at, id);

-- Bulk loads assign in one polygon-driven join and say so for their transaction only.
CREATE FUNCTION activities_assign_area() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('jangkau.area_preassigned', true) = 'on' THEN
        RETURN NEW;
    END IF;
    NEW.area_id := kelurahan_at(NEW.geom);
    NEW.outside_kelurahan := NEW.area_id IS NULL;
    RETURN NEW;
END $$;
CREATE TRIGGER activities_assign_area BEFORE INSERT OR UPDATE OF geom ON activities
    FOR EACH ROW EXECUTE FUNCTION activities_assign_area();
"""

DOWNGRADE = """
DROP TABLE IF EXISTS activities, targets, indicators, service_categories, staff_assignments,
    area_parts, area_closure, areas, staff, units CASCADE;
DROP FUNCTION IF EXISTS activities_assign_area(), kelurahan_at(geometry), areas_subdivide(),
    areas_derive();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

"""The tables as SQLAlchemy Core objects: what queries are built from.

The migrations in `geo/migrations` create them (with triggers and checks that Core cannot
express); `tests/test_migrations.py` fails when the two disagree on a table or column.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATEMULTIRANGE, DATERANGE, JSONB

metadata = MetaData()

units = Table(
    "units", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("units.id")),
    Column("office", Geometry("POINT", 4326, spatial_index=False)),
)

staff = Table(
    "staff", metadata,
    Column("id", Uuid, primary_key=True),
    Column("nip", CHAR(18), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=False),
    Column("active", Boolean, nullable=False),
)

areas = Table(
    "areas", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("areas.id")),
    Column("geom", Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False),
    Column("area_m2", Float, nullable=False),
    Column("label_point", Geometry("POINT", 4326, spatial_index=False), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The outline in metres (UTM zone 49S), written by the database (migration 0021).
    Column("geom_utm", Geometry("MULTIPOLYGON", 32749, spatial_index=False),
           Computed("ST_Transform(geom, 32749)", persisted=True)),
)

area_closure = Table(
    "area_closure", metadata,
    Column("ancestor_id", Integer, ForeignKey("areas.id"), primary_key=True),
    Column("descendant_id", Integer, ForeignKey("areas.id"), primary_key=True),
    Column("depth", SmallInteger, nullable=False),
)

# Kelurahan within 25 m of each other (migration 0009): staff may help a neighbour.
area_neighbours = Table(
    "area_neighbours", metadata,
    Column("area_id", Integer, ForeignKey("areas.id"), primary_key=True),
    Column("neighbour_id", Integer, ForeignKey("areas.id"), primary_key=True),
)

area_parts = Table(
    "area_parts", metadata,
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("code", Text, nullable=False),
    Column("geom", Geometry("POLYGON", 4326, spatial_index=False), nullable=False),
)

area_shapes = Table(
    "area_shapes", metadata,
    Column("area_id", Integer, ForeignKey("areas.id"), primary_key=True),
    Column("band", SmallInteger, primary_key=True),
    Column("geom", Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False),
    Column("vertices", Integer, nullable=False),
)

staff_assignments = Table(
    "staff_assignments", metadata,
    Column("id", Integer, primary_key=True),
    Column("staff_id", Uuid, ForeignKey("staff.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("during", DATERANGE, nullable=False),
)

service_categories = Table(
    "service_categories", metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=False),
)

indicators = Table(
    "indicators", metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=False),
)

targets = Table(
    "targets", metadata,
    Column("id", Integer, primary_key=True),
    Column("indicator_code", Text, ForeignKey("indicators.code"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id")),      # exactly one of area_id,
    Column("staff_id", Uuid, ForeignKey("staff.id")),         # staff_id (0006)
    Column("period", DATERANGE, nullable=False),
    Column("target_value", Float, nullable=False),
)

# Partitioned by WIB month of started_at (migration 0012): the key includes it, and the id alone is
# kept unique across months by `activity_ids`.
activities = Table(
    "activities", metadata,
    Column("id", Uuid, primary_key=True),
    Column("staff_id", Uuid, ForeignKey("staff.id"), nullable=False),
    Column("category_code", Text, ForeignKey("service_categories.code"), nullable=False),
    Column("started_at", DateTime(timezone=True), primary_key=True),
    Column("ended_at", DateTime(timezone=True)),
    Column("device_time", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("geom", Geometry("POINT", 4326, spatial_index=False), nullable=False),
    Column("accuracy_m", Float),
    Column("mock_location", Boolean, nullable=False),
    Column("citizens_served", Integer, nullable=False),
    Column("outcome_code", Text, ForeignKey("indicators.code")),
    Column("outcome_met", Boolean, nullable=False),
    Column("note", Text),
    Column("area_id", Integer, ForeignKey("areas.id")),
    Column("outside_kelurahan", Boolean, nullable=False),
    Column("flags", ARRAY(Text), nullable=False),
    Column("review", Text, nullable=False),
    Column("flag_notes", JSONB, nullable=False),     # flag -> its reason, with numbers
    Column("confidence", Float, nullable=False),     # 0..1: how much it needs a human
)

# Every activity's id, whatever its month: the idempotency key, and what references point at.
activity_ids = Table(
    "activity_ids", metadata,
    Column("id", Uuid, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

flag_reviews = Table(
    "flag_reviews", metadata,
    Column("id", Integer, primary_key=True),
    Column("activity_id", Uuid, ForeignKey("activity_ids.id"), nullable=False),
    Column("decision", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("reviewer", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("flags_at_review", ARRAY(Text), nullable=False),
)

access_log = Table(
    "access_log", metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_sub", Text, nullable=False),
    Column("actor_role", Text, nullable=False),
    Column("subject_staff_id", Uuid, nullable=False),    # no key: the trail outlives people
    Column("what", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
)

# Reads journaled before their answer, one row per commit, until written out as access_log's
# rows (migration 0018, geo.access_log.expand): the same arrays access_log_write was given.
access_log_journal = Table(
    "access_log_journal", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("subs", ARRAY(Text), nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("subjects", ARRAY(Uuid), nullable=False),
    Column("whats", ARRAY(Text), nullable=False),
    Column("details", ARRAY(JSONB), nullable=False),
)

# A page's reads journaled by the page's own statement (migration 0019, graph.fastpage): every
# subject read through the same fields, `counts` times each.
access_log_pages = Table(
    "access_log_pages", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("sub", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("fields", ARRAY(Text), nullable=False),
    Column("subjects", ARRAY(Uuid), nullable=False),
    Column("counts", ARRAY(Integer), nullable=False),
)

rollup_area_day = Table(
    "rollup_area_day", metadata,
    Column("day", Date, nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id")),
    Column("category_code", Text, nullable=False),
    Column("outcome_code", Text),
    Column("activities", Integer, nullable=False),
    Column("met", Integer, nullable=False),
    Column("citizens", BigInteger, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

rollup_presence = Table(
    "rollup_presence", metadata,
    Column("staff_id", Uuid, ForeignKey("staff.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id")),
    Column("category_code", Text, nullable=False),
    Column("days", DATEMULTIRANGE, nullable=False),
)

area_population = Table(
    "area_population", metadata,
    Column("area_id", Integer, ForeignKey("areas.id"), primary_key=True),
    Column("year", SmallInteger, primary_key=True),
    Column("population", Integer, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_hash", LargeBinary, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("unit_code", Text, ForeignKey("units.code"), nullable=False),
    Column("areas", ARRAY(Text), nullable=False),
    Column("expires", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# WIB months of `activities` archived to a file (migration 0013, geo.archive): the rollups keep
# their figures until `figures_forgotten_at` is set.
activity_archives = Table(
    "activity_archives", metadata,
    Column("month", Date, primary_key=True),
    Column("archived_at", DateTime(timezone=True), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("file", Text, nullable=False),
    Column("figures_forgotten_at", DateTime(timezone=True)),
)

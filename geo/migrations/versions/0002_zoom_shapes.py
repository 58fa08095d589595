"""Kelurahan/kecamatan boundaries simplified per zoom band, as one coverage (no slivers).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The shapes are derived data (see `geo.shapes`): every boundary import rebuilds them. Areas
already imported when this runs get theirs here.
"""

from __future__ import annotations

from alembic import op

from geo import shapes
from geo.migrations.script import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE area_shapes (
    area_id  integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    band     smallint NOT NULL CHECK (band >= 0),
    geom     geometry(MultiPolygon, 4326) NOT NULL,
    vertices integer NOT NULL CHECK (vertices >= 0),
    PRIMARY KEY (area_id, band)
);
CREATE INDEX area_shapes_geom_gist ON area_shapes USING gist (geom);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS area_shapes;
"""


def upgrade() -> None:
    run_script(UPGRADE)
    bind = op.get_bind()
    rows = shapes.shape_rows(bind.execute(shapes.READ).all())
    if rows:
        bind.execute(shapes.WRITE, rows)


def downgrade() -> None:
    run_script(DOWNGRADE)

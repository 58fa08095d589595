"""Area population by year: optional data a city has, for per-1000-residents figures.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

One row per area and year, as the city publishes it (e.g. Dispendukcapil's mid-year figures).
Nothing is derived or invented: an area without a row has no per-1000 figures.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE area_population (
    area_id    integer NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    year       smallint NOT NULL CHECK (year BETWEEN 1900 AND 2200),
    population integer NOT NULL CHECK (population > 0),
    PRIMARY KEY (area_id, year)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS area_population;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

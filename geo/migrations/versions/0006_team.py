"""Per-person targets and unit offices, for the team view.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A target is set either on an area or on one staff member, never both (a CHECK); like area targets,
a person's targets of one indicator may not overlap in time. A unit's office is a point: how far
from it an activity happened says whether it was field work (`geo.team`); null when unknown.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE targets ALTER COLUMN area_id DROP NOT NULL;
ALTER TABLE targets ADD COLUMN staff_id uuid REFERENCES staff (id) ON DELETE CASCADE;
ALTER TABLE targets ADD CONSTRAINT targets_area_or_staff
    CHECK (num_nonnulls(area_id, staff_id) = 1);
ALTER TABLE targets ADD CONSTRAINT targets_staff_period_excl
    EXCLUDE USING gist (indicator_code WITH =, staff_id WITH =, period WITH &&);
ALTER TABLE units ADD COLUMN office geometry(Point, 4326)
    CHECK (ST_X(office) BETWEEN -180 AND 180 AND ST_Y(office) BETWEEN -90 AND 90);
CREATE INDEX units_office_gist ON units USING gist (office);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS units_office_gist;
ALTER TABLE units DROP COLUMN IF EXISTS office;
DELETE FROM targets WHERE staff_id IS NOT NULL;
ALTER TABLE targets DROP CONSTRAINT IF EXISTS targets_staff_period_excl;
ALTER TABLE targets DROP CONSTRAINT IF EXISTS targets_area_or_staff;
ALTER TABLE targets DROP COLUMN IF EXISTS staff_id;
ALTER TABLE targets ALTER COLUMN area_id SET NOT NULL;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

"""The access log's subject without a foreign key: a read no longer locks the people it reads.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

`access_log.subject_staff_id` referenced `staff (id)`. PostgreSQL checks such a key per row by
taking FOR KEY SHARE on the referenced row: a page of 100 activities wrote 100 log rows and so
locked up to 100 staff rows, each lock a write to the staff row and a WAL record, in what is a
read (measured at 1,000,000 activities: the log's INSERT took 2.0-2.6 ms with the key and
1.3-1.7 ms without, of a 4 ms page). The key guarded nothing the log needs: every subject id
comes from an activity just read, whose own `staff_id` references `staff`; and an audit trail
that forbids deleting the person it names (or would be deleted with them) is the wrong way
round: the trail outlives its subject. The index on (subject_staff_id, at) stays, for reading
one person's trail.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE access_log DROP CONSTRAINT access_log_subject_staff_id_fkey;
"""

# NOT VALID: the key binds new rows again without failing on a trail whose subject is gone.
DOWNGRADE = r"""
ALTER TABLE access_log ADD CONSTRAINT access_log_subject_staff_id_fkey
    FOREIGN KEY (subject_staff_id) REFERENCES staff (id) NOT VALID;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

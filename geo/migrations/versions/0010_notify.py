"""Change notification: every committed write to `activities` is published with NOTIFY.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Statement-level triggers send the ids of the rows a statement inserted or changed on the channel
`jangkau_activities`, inside the writing transaction: PostgreSQL delivers a NOTIFY only when its
transaction commits, so nothing is published for a rolled-back write and nothing committed is
missed. A payload is `i:` (inserted) or `u:` (updated) and at most 200 comma-separated ids (8000
bytes is the limit). A statement of more than
10,000 rows (a bulk load, a boundary re-import) sends the single payload `*` instead: listeners
then treat every figure as changed rather than receive thousands of messages.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION activities_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM changed_rows;
    IF n = 0 THEN
        RETURN NULL;
    ELSIF n > 10000 THEN
        PERFORM pg_notify('jangkau_activities', '*');
        RETURN NULL;
    END IF;
    PERFORM pg_notify('jangkau_activities',
                      lower(left(TG_OP, 1)) || ':' || string_agg(id::text, ',' ORDER BY id))
    FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 200 AS chunk FROM changed_rows) c
    GROUP BY chunk;
    RETURN NULL;
END $$;

CREATE TRIGGER activities_notify_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_notify();
CREATE TRIGGER activities_notify_update AFTER UPDATE ON activities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_notify();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS activities_notify_insert ON activities;
DROP TRIGGER IF EXISTS activities_notify_update ON activities;
DROP FUNCTION IF EXISTS activities_notify();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

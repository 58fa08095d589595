"""The access log: who read whose individual location, when, and through what (UU 27/2022).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

One row per (request, subject): the API writes them set-based at the end of a request (see
`geo.access_log`). Rows are never changed: an UPDATE is refused by a trigger, so what was read
stays as it was recorded; deleting old rows (retention) remains possible for the operator.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE access_log (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at               timestamptz NOT NULL DEFAULT now(),
    actor_sub        text NOT NULL CHECK (actor_sub <> ''),
    actor_role       text NOT NULL
                     CHECK (actor_role IN ('staff', 'supervisor', 'planner', 'admin')),
    subject_staff_id uuid NOT NULL REFERENCES staff (id),
    what             text NOT NULL CHECK (what <> ''),
    detail           jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX access_log_at ON access_log (at, id);
CREATE INDEX access_log_subject ON access_log (subject_staff_id, at);
CREATE INDEX access_log_actor ON access_log (actor_sub, at);

CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: rows are never changed';
END $$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();
"""

DOWNGRADE = """
DROP TABLE IF EXISTS access_log;
DROP FUNCTION IF EXISTS access_log_append_only();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

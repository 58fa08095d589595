"""The access log's rows are journaled before the answer and written out after it (issue 13).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

A page of 100 other people's activities wrote 100 `access_log` rows before its answer could
leave: 100 heap rows and 400 index entries, 2-3 ms of a 10 ms page. Now `access_log_write`
stores what it is given (the same arrays, one row per subject inside them) as ONE row of
`access_log_journal`, committed before the answer as the log rows were: nothing the answer
showed can go unrecorded. `access_log_expand(n)` moves up to `n` journal rows into
`access_log`, one row per subject as before, with the journal row's time as `at`; the API runs
it off the answer's path (at most once a second while reads come in) and before `accessLog`
reads, so the log as read is never behind what was answered.

The journal refuses what the log's own checks would refuse, when it is written: a journal row
that could not be expanded would hold up every row after it. Expanding waits for (does not
skip) rows another expander holds, so that once it returns, every row journaled before it began
is in `access_log`.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE access_log_journal (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    subs     text[] NOT NULL,
    roles    text[] NOT NULL,
    subjects uuid[] NOT NULL,
    whats    text[] NOT NULL,
    details  jsonb[] NOT NULL,
    CHECK (cardinality(roles) = cardinality(subs) AND cardinality(subjects) = cardinality(subs)
           AND cardinality(whats) = cardinality(subs)
           AND cardinality(details) = cardinality(subs))
);

CREATE OR REPLACE FUNCTION access_log_write(subs text[], roles text[], subjects uuid[],
                                            whats text[], details text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
BEGIN
    -- access_log's own checks (0005), made now: the answer is withheld, not the expansion.
    IF EXISTS (SELECT FROM unnest(subs, roles, subjects, whats, details)
                   AS r(sub, role, subject, what, detail)
               WHERE r.sub IS NULL OR r.sub = '' OR r.what IS NULL OR r.what = ''
                  OR r.subject IS NULL OR r.detail IS NULL OR r.role IS NULL
                  OR r.role <> ALL (ARRAY['staff', 'supervisor', 'planner', 'admin'])) THEN
        RAISE EXCEPTION 'access_log_write: a row the access log refuses (empty, null or an '
                        'unknown role)' USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO access_log_journal (subs, roles, subjects, whats, details)
    VALUES (subs, roles, subjects, whats, CAST(details AS jsonb[]));
END
$$;

CREATE FUNCTION access_log_expand(max_rows integer) RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
DECLARE
    taken integer;
BEGIN
    WITH batch AS (
        DELETE FROM access_log_journal j
        WHERE j.id IN (SELECT id FROM access_log_journal ORDER BY id LIMIT max_rows
                       FOR UPDATE)
        RETURNING j.id, j.at, j.subs, j.roles, j.subjects, j.whats, j.details
    ), written AS (
        INSERT INTO access_log (at, actor_sub, actor_role, subject_staff_id, what, detail)
        SELECT b.at, r.sub, r.role, r.subject, r.what, r.detail
        FROM batch b, unnest(b.subs, b.roles, b.subjects, b.whats, b.details) WITH ORDINALITY
            AS r(sub, role, subject, what, detail, n)
        ORDER BY b.id, r.n
    )
    SELECT count(*) INTO taken FROM batch;
    RETURN taken;
END
$$;
"""

DOWNGRADE = r"""
DO $$ BEGIN
    WHILE access_log_expand(10000) > 0 LOOP END LOOP;
END $$;
DROP FUNCTION access_log_expand(integer);
CREATE OR REPLACE FUNCTION access_log_write(subs text[], roles text[], subjects uuid[],
                                            whats text[], details text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
BEGIN
    INSERT INTO access_log (actor_sub, actor_role, subject_staff_id, what, detail)
    SELECT r.sub, r.role, r.subject, r.what, CAST(r.detail AS jsonb)
    FROM unnest(subs, roles, subjects, whats, details) AS r(sub, role, subject, what, detail);
END
$$;
DROP TABLE access_log_journal;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

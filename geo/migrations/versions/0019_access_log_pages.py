"""A page's access-log journal row in a compact form of its own (issue 13).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A page answered by graph.fastpage writes its journal row in its own statement. In the form of
0018 that row repeats, for each of up to 100 people, the reader, their role, the fields and a
JSON detail: about 2 KB once compressed, and its INSERT cost 0.6 ms of a 2.0 ms statement at
1,000,000 activities. Every person of a page was read through the same fields, as many times
through each, so `access_log_pages` keeps the reader, role and fields once, and per person only
the id and the count. `access_log_expand` writes both journals out, each row as the
`access_log` rows it stands for (what: the fields joined by ", "; detail: the count, in all and
through each field), with the read's time as `at`. The table's checks are the log's, made when
a row is written, as 0018's function makes them: no row can hold up the rest.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE access_log_pages (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    sub      text NOT NULL CHECK (sub <> ''),
    role     text NOT NULL CHECK (role IN ('staff', 'supervisor', 'planner', 'admin')),
    fields   text[] NOT NULL CHECK (cardinality(fields) > 0
                                    AND array_position(fields, NULL) IS NULL
                                    AND array_position(fields, '') IS NULL),
    subjects uuid[] NOT NULL CHECK (array_position(subjects, NULL) IS NULL),
    counts   integer[] NOT NULL CHECK (cardinality(counts) = cardinality(subjects)
                                       AND array_position(counts, NULL) IS NULL)
);

CREATE OR REPLACE FUNCTION access_log_expand(max_rows integer) RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
DECLARE
    taken integer;
    pages integer;
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
    WITH batch AS (
        DELETE FROM access_log_pages p
        WHERE p.id IN (SELECT id FROM access_log_pages ORDER BY id LIMIT max_rows FOR UPDATE)
        RETURNING p.id, p.at, p.sub, p.role, p.fields, p.subjects, p.counts
    ), written AS (
        INSERT INTO access_log (at, actor_sub, actor_role, subject_staff_id, what, detail)
        SELECT b.at, b.sub, b.role, r.subject, array_to_string(b.fields, ', '),
               jsonb_build_object('activities', r.n, 'fields',
                                  (SELECT jsonb_object_agg(f, r.n) FROM unnest(b.fields) f))
        FROM batch b, unnest(b.subjects, b.counts) WITH ORDINALITY AS r(subject, n, k)
        ORDER BY b.id, r.k
    )
    SELECT count(*) INTO pages FROM batch;
    RETURN taken + pages;
END
$$;
"""

DOWNGRADE = r"""
DO $$ BEGIN
    WHILE access_log_expand(10000) > 0 LOOP END LOOP;
END $$;
CREATE OR REPLACE FUNCTION access_log_expand(max_rows integer) RETURNS integer
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
DROP TABLE access_log_pages;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

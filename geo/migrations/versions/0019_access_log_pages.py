"""A page's access-log journal row in a compact form of its own (issue 13).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A page answered by graph.fastpage writes its journal row in its own statement. In the form of
0018 that row repeats, for each of up to 100 people, the reader, their role, the fields and a
JSON detail: about 2 KB once compressed, and its INSERT cost 0.6 ms of a 2.0 ms statement at
1,000,000 activities. Every person of a page was read through the same fields, as many times
through each, so `access_log_pages` keeps the reader, role and fields once, and per person only
the id and the count. `access_log_expand` writes both journals out (0018's function, renamed
`access_log_expand_journal`, then `access_log_expand_pages`), each row as the `access_log`
rows it stands for (what: the fields joined by ", "; detail: the count, in all and through each
field), with the read's time as `at`. The table's checks are the log's, made when a row is
written, as 0018's function makes them: no row can hold up the rest.
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

-- 0018's expansion keeps its body under another name; access_log_expand does both journals.
ALTER FUNCTION access_log_expand(integer) RENAME TO access_log_expand_journal;

CREATE FUNCTION access_log_expand_pages(max_rows integer) RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
DECLARE
    taken integer;
BEGIN
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
    SELECT count(*) INTO taken FROM batch;
    RETURN taken;
END
$$;

CREATE FUNCTION access_log_expand(max_rows integer) RETURNS integer
LANGUAGE sql AS $$
    SELECT access_log_expand_journal(max_rows) + access_log_expand_pages(max_rows);
$$;
"""

DOWNGRADE = r"""
DO $$ BEGIN
    WHILE access_log_expand(10000) > 0 LOOP END LOOP;
END $$;
DROP FUNCTION access_log_expand(integer);
DROP FUNCTION access_log_expand_pages(integer);
ALTER FUNCTION access_log_expand_journal(integer) RENAME TO access_log_expand;
DROP TABLE access_log_pages;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

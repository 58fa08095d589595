"""Activities partitioned by WIB calendar month of started_at, migrated online in batches.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

`activities` becomes `PARTITION BY RANGE (started_at)`, one partition per WIB month named
`activities_pYYYY_MM` with bounds at `YYYY-MM-01 00:00+07`, and `activities_default` as a safety
net for a month without its partition. A unique index of a partitioned table must contain the
partition key, so the client's id (the idempotency key) is kept unique across months by
`activity_ids (id primary key, started_at)`: a BEFORE INSERT trigger claims the id there and skips
the row when it is taken (what `ON CONFLICT DO NOTHING` did with the old primary key), a delete
releases it, and `flag_reviews` references it instead of `activities`. An activity never changes
month (that would be a delete and an insert under the same id).

`activities_partitions_ensure(lo, hi)` creates the month partitions covering [lo, hi]; rows the
default partition holds for such a month are moved into it first, so the default never makes a
creation fail. The API and `jangkau db upgrade` keep months ahead with it (`geo.partitions`).

An empty table is swapped at once. One with rows is migrated while the service keeps writing
(docs/SCALE.md, "Partitioning"): the partitioned table is built beside it, statement triggers on
the old table mirror every insert, update and delete, committed batches copy the rows in id order
(locking each batch's rows FOR SHARE, so no write slips between the read and the copy), one
short transaction swaps the names and moves the triggers, and another drops the old table. The
copied rows are already in the rollups, and the new table has no rollup trigger until the swap,
so nothing is counted twice. Every step that locks gives way to writers (its waits are shorter
than the deadlock check) and is tried again. An interrupted migration resumes when
`jangkau db upgrade` runs again.
"""

from __future__ import annotations

import asyncio
import logging

from alembic import context, op
from asyncpg import Connection
from asyncpg.exceptions import DeadlockDetectedError, LockNotAvailableError
from sqlalchemy.util import await_only

from geo.migrations.script import run_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger("jangkau.migrate")

# Defaults of `jangkau db upgrade`'s copy; tests pass smaller ones through the Alembic config.
COPY_ROWS = 2_000
COPY_PAUSE_S = 0.0
ATTEMPTS = 50
MONTHS_AHEAD = 3

# Partition upkeep, identity of ids, and the month rule: what stays after the migration.
FUNCTIONS = r"""
-- One WIB month's partition of `parent`, created unless present. Rows of that month sitting in
-- the default partition are moved into the new table before it is attached. A short lock wait:
-- queries queue behind a waiting ATTACH, and the upkeep is tried again later anyway.
CREATE FUNCTION activities_partition_create(parent regclass, month date) RETURNS boolean
LANGUAGE plpgsql SET lock_timeout = '500ms' AS $$
DECLARE
    m    date := date_trunc('month', month)::date;
    name text := format('activities_p%s', to_char(m, 'YYYY_MM'));
    lo   text := to_char(m, 'YYYY-MM-01') || ' 00:00+07';
    hi   text := to_char(m + interval '1 month', 'YYYY-MM-01') || ' 00:00+07';
    dflt regclass;
BEGIN
    -- Two processes keeping months ahead at the same moment take turns.
    PERFORM pg_advisory_xact_lock(hashtextextended('jangkau.partitions', 0));
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = parent AND c.relname = name) THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', parent);
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   name, parent);
    SELECT NULLIF(p.partdefid, 0)::regclass INTO dflt
    FROM pg_partitioned_table p WHERE p.partrelid = parent;
    IF dflt IS NOT NULL THEN
        -- Straight on the partition: no statement trigger of the parent fires, so the rollups
        -- and the ids stay as they are; the rows only change tables.
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', dflt);
        EXECUTE format('WITH moved AS (DELETE FROM %s WHERE started_at >= %L AND started_at < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', dflt, lo, hi, name);
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, name, lo, hi);
    RETURN true;
END $$;

-- The month partitions of `activities` covering [lo, hi] (WIB months); how many were created.
CREATE FUNCTION activities_partitions_ensure(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE activities_partition_create('activities', m::date))::integer
    FROM generate_series(date_trunc('month', lo AT TIME ZONE 'Asia/Jakarta'),
                         date_trunc('month', hi AT TIME ZONE 'Asia/Jakarta'),
                         interval '1 month') m
$$;

-- The id is the idempotency key across every month: claimed here, or the row is skipped. A bulk
-- writer that claimed its ids itself, set-based, says so for its transaction.
CREATE FUNCTION activities_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('jangkau.ids_preclaimed', true) = 'on' THEN
        RETURN NEW;
    END IF;
    INSERT INTO activity_ids (id, started_at) VALUES (NEW.id, NEW.started_at)
    ON CONFLICT (id) DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION activities_release_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM activity_ids i USING gone g WHERE i.id = g.id;
    RETURN NULL;
END $$;

-- Moving a row to another month would be a delete and an insert under the same id.
CREATE FUNCTION activities_keep_month() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF date_trunc('month', NEW.started_at AT TIME ZONE 'Asia/Jakarta')
       <> date_trunc('month', OLD.started_at AT TIME ZONE 'Asia/Jakarta') THEN
        RAISE EXCEPTION 'activity % cannot move from one month to another', OLD.id
            USING ERRCODE = 'check_violation',
                  HINT = 'delete it and record it again with a new id';
    END IF;
    UPDATE activity_ids SET started_at = NEW.started_at
    WHERE id = NEW.id AND started_at <> NEW.started_at;
    RETURN NEW;
END $$;
"""

# The partitioned table beside the old one, its ids, and the mirror of every write to the old.
PREPARE = r"""
CREATE TABLE activity_ids (
    id         uuid PRIMARY KEY,
    started_at timestamptz NOT NULL
);

CREATE TABLE activities_next (LIKE activities INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (started_at);
ALTER TABLE activities_next
    ADD CONSTRAINT activities_next_pkey PRIMARY KEY (id, started_at),
    ADD CONSTRAINT activities_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES staff (id),
    ADD CONSTRAINT activities_category_code_fkey FOREIGN KEY (category_code)
        REFERENCES service_categories (code),
    ADD CONSTRAINT activities_outcome_code_fkey FOREIGN KEY (outcome_code)
        REFERENCES indicators (code),
    ADD CONSTRAINT activities_area_id_fkey FOREIGN KEY (area_id)
        REFERENCES areas (id) ON DELETE SET NULL;
CREATE INDEX activities_next_geom_gist ON activities_next USING gist (geom);
CREATE INDEX activities_next_area_time_idx ON activities_next (area_id, started_at);
CREATE INDEX activities_next_staff_time_idx ON activities_next (staff_id, started_at);
CREATE INDEX activities_next_time_idx ON activities_next (started_at, id);
CREATE INDEX activities_next_flagged_idx ON activities_next (started_at, id)
    WHERE review <> 'NONE';
CREATE INDEX activities_next_flagged_confidence_idx ON activities_next (confidence, started_at, id)
    WHERE review <> 'NONE';
CREATE TABLE activities_default PARTITION OF activities_next DEFAULT;

CREATE TRIGGER activities_claim_id BEFORE INSERT ON activities_next
    FOR EACH ROW EXECUTE FUNCTION activities_claim_id();
CREATE TRIGGER activities_keep_month BEFORE UPDATE OF started_at ON activities_next
    FOR EACH ROW EXECUTE FUNCTION activities_keep_month();
CREATE TRIGGER activities_release_ids AFTER DELETE ON activities_next
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION activities_release_ids();

-- Every month with rows, contiguous, and the months ahead.
SELECT activities_partition_create('activities_next', m::date)
FROM generate_series(
    date_trunc('month', least((SELECT min(started_at) FROM activities), now())
                        AT TIME ZONE 'Asia/Jakarta'),
    date_trunc('month', greatest((SELECT max(started_at) FROM activities),
                                 now() + interval '@MONTHS_AHEAD@ months')
                        AT TIME ZONE 'Asia/Jakarta'),
    interval '1 month') m;

-- The mirror: the old table's writes, applied to the new one, statement by statement.
DO $do$
DECLARE
    assign text;
BEGIN
    SELECT string_agg(format('%I = r.%I', attname, attname), ', ' ORDER BY attnum) INTO assign
    FROM pg_attribute
    WHERE attrelid = 'activities'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'id';
    EXECUTE format($f$
        CREATE FUNCTION activities_mirror() RETURNS trigger LANGUAGE plpgsql AS $b$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO activities_next SELECT * FROM new_rows;
            ELSIF TG_OP = 'UPDATE' THEN
                UPDATE activities_next n SET %s FROM new_rows r WHERE n.id = r.id;
            ELSE
                DELETE FROM activities_next n USING old_rows o WHERE n.id = o.id;
            END IF;
            RETURN NULL;
        END $b$$f$, assign);
END $do$;
CREATE TRIGGER activities_mirror_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_mirror();
CREATE TRIGGER activities_mirror_update AFTER UPDATE ON activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_mirror();
CREATE TRIGGER activities_mirror_delete AFTER DELETE ON activities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_mirror();

-- The copy: batches in id order, each its own transaction (CALL it outside one). Locking the
-- batch's rows FOR SHARE waits for a writer of them and reads what it committed; a row the
-- mirror already brought over keeps its id claimed and is skipped. Waiting on a writer, a
-- batch gives up well before the deadlock check (the writer never loses) and is tried again.
CREATE PROCEDURE activities_copy(batch integer, pause double precision) LANGUAGE plpgsql AS $$
DECLARE
    last   uuid := '00000000-0000-0000-0000-000000000000';
    upto   uuid;
    copied integer;
    wait   text := least(250, extract(epoch FROM CAST(current_setting('deadlock_timeout')
                                                      AS interval)) * 250)::integer || 'ms';
BEGIN
    LOOP
        PERFORM set_config('jangkau.ids_preclaimed', 'on', true);
        PERFORM set_config('lock_timeout', wait, true);
        BEGIN
            WITH b AS MATERIALIZED (
                SELECT * FROM activities WHERE id > last ORDER BY id LIMIT batch FOR SHARE
            ),
            claimed AS (
                INSERT INTO activity_ids (id, started_at) SELECT id, started_at FROM b
                ON CONFLICT (id) DO NOTHING RETURNING id
            ),
            moved AS (
                INSERT INTO activities_next SELECT * FROM b WHERE id IN (SELECT id FROM claimed)
            )
            SELECT count(*), (SELECT id FROM b ORDER BY id DESC LIMIT 1) INTO copied, upto
            FROM b;
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            copied := NULL;
        END;
        COMMIT;
        IF copied IS NULL THEN
            PERFORM pg_sleep(0.05);
            CONTINUE;
        END IF;
        last := upto;
        EXIT WHEN copied < batch;
        PERFORM pg_sleep(pause);
    END LOOP;
END $$;
""".replace("@MONTHS_AHEAD@", str(MONTHS_AHEAD))

# One short transaction: the partitioned table takes the name, the triggers and the references.
# Every lock is taken first, in the order writers take them (activities, then what its triggers
# and references touch), and the old table is only renamed: dropping it needs locks on the
# tables it references, which CLEANUP takes afterwards on its own.
SWAP = r"""
LOCK TABLE activities, activities_next, flag_reviews, activity_ids IN ACCESS EXCLUSIVE MODE;
DO $$
BEGIN
    IF (SELECT count(*) FROM activities) <> (SELECT count(*) FROM activities_next) THEN
        RAISE EXCEPTION 'the partitioned copy of activities is incomplete: not swapped';
    END IF;
END $$;
ALTER TABLE flag_reviews DROP CONSTRAINT flag_reviews_activity_id_fkey;
DROP TRIGGER activities_mirror_insert ON activities;
DROP TRIGGER activities_mirror_update ON activities;
DROP TRIGGER activities_mirror_delete ON activities;
DROP TRIGGER activities_assign_area ON activities;
DROP TRIGGER rollups_insert ON activities;
DROP TRIGGER rollups_update ON activities;
DROP TRIGGER rollups_delete ON activities;
DROP TRIGGER activities_notify_insert ON activities;
DROP TRIGGER activities_notify_update ON activities;
ALTER TABLE activities RENAME TO activities_unpartitioned;
ALTER TABLE activities_unpartitioned
    RENAME CONSTRAINT activities_pkey TO activities_unpartitioned_pkey;
ALTER INDEX activities_geom_gist RENAME TO activities_unpartitioned_geom_gist;
ALTER INDEX activities_area_time_idx RENAME TO activities_unpartitioned_area_time_idx;
ALTER INDEX activities_staff_time_idx RENAME TO activities_unpartitioned_staff_time_idx;
ALTER INDEX activities_time_idx RENAME TO activities_unpartitioned_time_idx;
ALTER INDEX activities_flagged_idx RENAME TO activities_unpartitioned_flagged_idx;
ALTER INDEX activities_flagged_confidence_idx
    RENAME TO activities_unpartitioned_flagged_confidence_idx;
ALTER TABLE activities_next RENAME TO activities;
ALTER TABLE activities RENAME CONSTRAINT activities_next_pkey TO activities_pkey;
ALTER INDEX activities_next_geom_gist RENAME TO activities_geom_gist;
ALTER INDEX activities_next_area_time_idx RENAME TO activities_area_time_idx;
ALTER INDEX activities_next_staff_time_idx RENAME TO activities_staff_time_idx;
ALTER INDEX activities_next_time_idx RENAME TO activities_time_idx;
ALTER INDEX activities_next_flagged_idx RENAME TO activities_flagged_idx;
ALTER INDEX activities_next_flagged_confidence_idx RENAME TO activities_flagged_confidence_idx;
""" + r"""
CREATE TRIGGER activities_assign_area BEFORE INSERT OR UPDATE OF geom ON activities
    FOR EACH ROW EXECUTE FUNCTION activities_assign_area();
CREATE TRIGGER rollups_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_insert();
CREATE TRIGGER rollups_update AFTER UPDATE ON activities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_change();
CREATE TRIGGER rollups_delete AFTER DELETE ON activities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_on_delete();
CREATE TRIGGER activities_notify_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_notify();
CREATE TRIGGER activities_notify_update AFTER UPDATE ON activities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION activities_notify();
-- Checked right after, without holding writers (VALIDATE takes a weaker lock).
ALTER TABLE flag_reviews ADD CONSTRAINT flag_reviews_activity_id_fkey FOREIGN KEY (activity_id)
    REFERENCES activity_ids (id) ON DELETE CASCADE NOT VALID;
"""

VALIDATE = "ALTER TABLE flag_reviews VALIDATE CONSTRAINT flag_reviews_activity_id_fkey;"

# The old table, gone: its foreign keys' triggers live on the tables it referenced.
CLEANUP = r"""
LOCK TABLE activities_unpartitioned, staff, service_categories, indicators, areas
    IN ACCESS EXCLUSIVE MODE;
DROP TABLE activities_unpartitioned;
DROP FUNCTION activities_mirror();
DROP PROCEDURE activities_copy(integer, double precision);
"""

# A wait for a lock shorter than the deadlock check: should a writer and a step of this
# migration wait on each other, the migration gives way (and tries again), never the writer.
YIELDING = r"""
SELECT set_config('lock_timeout', least(500, extract(epoch FROM
    CAST(current_setting('deadlock_timeout') AS interval)) * 500)::integer || 'ms', true);
"""

# Back to one table, offline, in the migration's transaction.
DOWNGRADE = r"""
LOCK TABLE activities IN ACCESS EXCLUSIVE MODE;
CREATE TABLE activities_plain (LIKE activities INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO activities_plain SELECT * FROM activities;
ALTER TABLE flag_reviews DROP CONSTRAINT flag_reviews_activity_id_fkey;
DROP TABLE activities, activity_ids;
DROP FUNCTION activities_partitions_ensure(timestamptz, timestamptz),
    activities_partition_create(regclass, date), activities_claim_id(),
    activities_release_ids(), activities_keep_month();
ALTER TABLE activities_plain RENAME TO activities;
ALTER TABLE activities
    ADD CONSTRAINT activities_pkey PRIMARY KEY (id),
    ADD CONSTRAINT activities_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES staff (id),
    ADD CONSTRAINT activities_category_code_fkey FOREIGN KEY (category_code)
        REFERENCES service_categories (code),
    ADD CONSTRAINT activities_outcome_code_fkey FOREIGN KEY (outcome_code)
        REFERENCES indicators (code),
    ADD CONSTRAINT activities_area_id_fkey FOREIGN KEY (area_id)
        REFERENCES areas (id) ON DELETE SET NULL;
CREATE INDEX activities_geom_gist ON activities USING gist (geom);
CREATE INDEX activities_area_time_idx ON activities (area_id, started_at);
CREATE INDEX activities_staff_time_idx ON activities (staff_id, started_at);
CREATE INDEX activities_time_idx ON activities (started_at, id);
CREATE INDEX activities_flagged_idx ON activities (started_at, id) WHERE review <> 'NONE';
CREATE INDEX activities_flagged_confidence_idx ON activities (confidence, started_at, id)
    WHERE review <> 'NONE';
ALTER TABLE flag_reviews ADD CONSTRAINT flag_reviews_activity_id_fkey FOREIGN KEY (activity_id)
    REFERENCES activities (id) ON DELETE CASCADE;
""" + SWAP[SWAP.index("CREATE TRIGGER activities_assign_area"):SWAP.index("-- Checked right")]


def _raw() -> Connection:
    raw = op.get_bind().connection.driver_connection
    if raw is None:
        raise RuntimeError("the migration's connection has no driver connection")
    return raw  # type: ignore[no-any-return]


async def _patiently(raw: Connection, what: str, script: str) -> None:
    """`script` in a transaction of its own, retried while others hold what it must lock; each
    wait is short, so the requests queued behind it are never held for long."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with raw.transaction():
                await raw.execute(YIELDING + script)
            return
        except (LockNotAvailableError, DeadlockDetectedError):
            log.warning("activities %s: tables busy, attempt %d of %d", what, attempt, ATTEMPTS)
            await asyncio.sleep(0.2 * attempt)
    raise RuntimeError(f"activities {what}: tables stayed busy; run the upgrade again")


def _exists(raw: Connection, name: str) -> bool:
    return bool(await_only(raw.fetchval("SELECT to_regclass($1) IS NOT NULL", name)))


def upgrade() -> None:
    raw = _raw()
    if not _exists(raw, "activities_next") and not _exists(raw, "activities_unpartitioned"):
        run_script(FUNCTIONS + PREPARE)
        if not await_only(raw.fetchval("SELECT EXISTS (SELECT 1 FROM activities)")):
            run_script(SWAP + VALIDATE + CLEANUP)      # nothing to copy: all at once
            return
    options = context.config.attributes
    rows = int(options.get("copy_rows", COPY_ROWS))
    pause = float(options.get("copy_pause_s", COPY_PAUSE_S))
    # Committed so far: the mirror is live; the copy and each step commit on their own.
    with op.get_context().autocommit_block():
        if _exists(raw, "activities_next"):
            log.info("activities: copying into partitions, %d rows a batch", rows)
            await_only(raw.execute(f"CALL activities_copy({rows}, {pause})"))
            await_only(_patiently(raw, "swap", SWAP))
        await_only(raw.execute(VALIDATE))
        await_only(_patiently(raw, "cleanup", CLEANUP))


def downgrade() -> None:
    run_script(DOWNGRADE)

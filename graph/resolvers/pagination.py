"""Opaque keyset cursors for the activities and team connections."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import orjson

from geo.errors import BadInput, LimitExceeded
from geo.periods import check_instant

DEFAULT_FIRST = 50


def encode_cursor(started_at: datetime, id: uuid.UUID) -> str:
    raw = orjson.dumps([started_at.isoformat(), str(id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, id = orjson.loads(raw)
        # A forged instant beyond the supported dates is no cursor we gave out either.
        return check_instant(datetime.fromisoformat(ts), "after"), uuid.UUID(id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadInput("`after` is not a cursor this API gave out; use an edge's cursor "
                       "or pageInfo.endCursor") from None


def encode_key(kind: str, id: uuid.UUID) -> str:
    """A cursor that names a row by id only (the team's: no name travels in a URL)."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, str(id)])).decode().rstrip("=")


def decode_key(kind: str, cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found, id = orjson.loads(raw)
        if found != kind:
            raise ValueError(found)
        return uuid.UUID(id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadInput("`after` is not a cursor this API gave out; use an edge's cursor "
                       "or pageInfo.endCursor") from None


def encode_ranked_cursor(confidence: float, started_at: datetime, id: uuid.UUID) -> str:
    raw = orjson.dumps([confidence, started_at.isoformat(), str(id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_ranked_cursor(cursor: str) -> tuple[float, datetime, uuid.UUID]:
    """A cursor of the review queue sorted by confidence (encode_ranked_cursor)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        confidence, ts, id = orjson.loads(raw)
        return float(confidence), datetime.fromisoformat(ts), uuid.UUID(id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadInput("`after` is not a cursor of this order; use an edge's cursor "
                       "or pageInfo.endCursor from the same orderBy") from None


def check_first(first: int | None, maximum: int) -> int:
    if first is None:
        return DEFAULT_FIRST
    if first < 0:
        raise BadInput("`first` must not be negative")
    if first > maximum:
        raise LimitExceeded(f"`first` is {first}; the maximum page size (max_first) is {maximum}")
    return first

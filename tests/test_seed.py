"""The seed's points land where the seed says: the numbers of every other test rest on it."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.seed import ACTIVITIES


async def test_seed_points_fall_in_their_kelurahan(conn: AsyncConnection) -> None:
    rows = dict((await conn.execute(text(
        "SELECT a.id, x.code FROM activities a LEFT JOIN areas x ON x.id = a.area_id"))).all())
    assert rows == {a[0]: a[4] for a in ACTIVITIES}

"""The OGC query parameters as GDAL and QGIS send them: `datetime` as WIB days."""

from __future__ import annotations

from datetime import date

import pytest

from geo.errors import JangkauError
from graph.ogc_params import parse_bbox, parse_datetime

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(("raw", "start", "end"), [
    (None, date(2026, 11, 3), TODAY),                          # the 30 days ending today
    ("2026-10-05", date(2026, 10, 5), date(2026, 10, 5)),
    ("2026-10-01/2026-10-31", date(2026, 10, 1), date(2026, 10, 31)),
    ("../2026-10-31", date(2026, 10, 2), date(2026, 10, 31)),
    ("2026-11-20/..", date(2026, 11, 20), TODAY),
    ("2026-11-20/", date(2026, 11, 20), TODAY),
    # A date-time is taken as its WIB day: 18:00 UTC is 01:00 WIB the next day.
    ("2026-10-01T18:00:00Z/2026-10-31T16:59:59Z", date(2026, 10, 2), date(2026, 10, 31)),
])
def test_datetime_is_an_interval_of_wib_days(raw: str | None, start: date, end: date) -> None:
    p = parse_datetime(raw, TODAY, 400)
    assert (p.start, p.end) == (start, end)


@pytest.mark.parametrize("raw", ["2026-10-01T10:00:00", "yesterday", "2026-10-01/2027-12-31",
                                 "../..x"])
def test_bad_datetimes_are_refused(raw: str) -> None:
    with pytest.raises(JangkauError):
        parse_datetime(raw, TODAY, 400)


def test_bbox_is_four_numbers_in_crs84() -> None:
    assert parse_bbox("112.7,-7.3,112.8,-7.2", None) == (112.7, -7.3, 112.8, -7.2)
    with pytest.raises(JangkauError, match="bbox-crs"):
        parse_bbox("112.7,-7.3,112.8,-7.2", "http://www.opengis.net/def/crs/EPSG/0/4326")
    with pytest.raises(JangkauError, match="no heights"):
        parse_bbox("112.7,-7.3,0,112.8,-7.2,10", None)

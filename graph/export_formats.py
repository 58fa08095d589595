"""Writers of an export's rows: UTF-8 CSV (with a BOM, so Excel reads it as UTF-8) and XLSX.

Both consume rows as they come and hold only a bounded piece in memory: CSV is flushed every
FLUSH_ROWS rows; XLSX goes through XlsxWriter's constant_memory mode (one row in memory, the
rest in a temporary file) and the finished file is sent in chunks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path

import xlsxwriter

Cell = str | int | float | date | datetime | None
FLUSH_ROWS = 500
FILE_CHUNK = 64 * 1024
BOM = "\ufeff"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, date):      # datetimes too: ISO 8601, with their +07:00
        return cell.isoformat()
    return str(cell)


def _drain(buf: io.StringIO) -> bytes:
    data = buf.getvalue().encode()
    buf.seek(0)
    buf.truncate()
    return data


async def csv_chunks(header: Sequence[str], rows: AsyncIterator[Sequence[Cell]]
                     ) -> AsyncIterator[bytes]:
    """The CSV in pieces: BOM and header first, then every FLUSH_ROWS rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(header)
    n = 0
    async for row in rows:
        writer.writerow([_text(c) for c in row])
        n += 1
        if n % FLUSH_ROWS == 0:
            yield _drain(buf)
    yield _drain(buf)


async def xlsx_chunks(header: Sequence[str], rows: AsyncIterator[Sequence[Cell]],
                      sheet: str) -> AsyncIterator[bytes]:
    """One worksheet: a bold header row, numbers as numbers, dates as dates, times in WIB
    wall-clock (Excel has no time zones; the header says WIB), nulls as empty cells."""
    with tempfile.TemporaryDirectory(prefix="jangkau-xlsx-") as tmp:
        path = Path(tmp) / "export.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": tmp})
        bold = book.add_format({"bold": True})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        sheet_ = book.add_worksheet(sheet)
        sheet_.write_row(0, 0, list(header), bold)
        r = 0
        async for row in rows:
            r += 1
            for c, cell in enumerate(row):
                if isinstance(cell, datetime):
                    sheet_.write_datetime(r, c, cell.replace(tzinfo=None), stamp)
                elif isinstance(cell, date):
                    sheet_.write_datetime(r, c, cell, day)
                elif cell is not None:
                    sheet_.write(r, c, cell)
        await asyncio.to_thread(book.close)     # zips the parts: CPU work off the event loop
        with path.open("rb") as f:
            while chunk := f.read(FILE_CHUNK):
                yield chunk

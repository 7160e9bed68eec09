"""Every CSV the hub writes goes through here, so no cell can run as a spreadsheet formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (``=HYPERLINK("http://…")`` in a member number sent
by anyone). Such a cell is written with a leading ``'``, which the spreadsheet shows as text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import IO, Any

from starlette.responses import StreamingResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: Any) -> Any:
    """The cell as it is safe to write: text that a spreadsheet would evaluate gets a ``'``."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell."""

    def __init__(self, handle: Any, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: Any, **options: Any) -> SafeWriter:
    """The hub's CSV writer: like ``csv.writer(handle)``, formula cells neutralised."""
    return SafeWriter(handle, **options)


def download(file: IO[bytes], filename: str) -> StreamingResponse:
    """An HTTP response streaming a written CSV ``file`` (rewound) as an attachment."""

    def chunks() -> Iterator[bytes]:
        with file:
            yield from iter(lambda: file.read(64 * 1024), b"")

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

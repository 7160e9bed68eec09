"""Every CSV the hub writes goes through here, so no cell can run as a spreadsheet formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (``=HYPERLINK("http://…")`` in a member number sent
by anyone). Such a cell is written with a leading ``'``, which the spreadsheet shows as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True, slots=True)
class RowError:
    """A row of an imported file that was not taken: its line, its key (as given) and why."""

    line: int
    key: str
    reason: str


def write_row_errors(path: Path, errors: Iterable[RowError], key_column: str = "key") -> None:
    """Write ``errors`` to ``path`` as a CSV of line, key and reason (an import's --errors)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv_writer = writer(handle)
        csv_writer.writerow(["line", key_column, "reason"])
        csv_writer.writerows([e.line, e.key, e.reason] for e in errors)


def as_text(value: Any) -> str:
    """A stored value as a cell's text: nothing is empty, a dict or list is its JSON."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def write_rows(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> str:
    """A CSV document (header first) of the rows' ``columns`` as text, formula cells neutralised."""
    out = io.StringIO()
    csv_writer = writer(out)
    csv_writer.writerow(columns)
    csv_writer.writerows([as_text(row.get(column)) for column in columns] for row in rows)
    return out.getvalue()


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

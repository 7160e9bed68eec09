"""The member list file of ``tsunagu member import``: its header checked, its rows read one at a
time with their line numbers, and the bytes read counted for the progress bar."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from idlink import member_import as imports

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class ImportAborted(Exception):
    """The file cannot be imported at all (no header, no member_number column, bad encoding)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One data row as header → cell, or the reason it could not be read as one."""

    line: int
    member_number: str
    cells: dict[str, str] | None
    problem: str | None = None


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        view[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def _read_header(reader: Iterator[list[str]]) -> list[str]:
    first = next(reader, None)
    if first is None:
        raise ImportAborted("the file is empty: its first line must name the columns")
    header = [name.strip().lower() for name in first]
    if "member_number" not in header:
        raise ImportAborted(
            f"no member_number column (the header has: {', '.join(header) or 'nothing'}); "
            f"known columns are {', '.join(imports.MEMBER_COLUMNS)}, others go to "
            "attributes"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates or "" in header:
        raise ImportAborted(f"the header has duplicate or empty column names: {duplicates}")
    return header


def _records(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The reader's records; a file that is not CSV at all (NUL bytes, huge fields) aborts."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportAborted(
                f"line {getattr(reader, 'line_num', '?')} is not CSV: {exc}"
            ) from exc
        yield cells


def read_rows(text: IO[str]) -> Iterator[Row]:
    """The file's data rows as header → cell, each with the line it starts on."""
    reader = csv.reader(text)
    records = _records(reader)
    header = _read_header(records)
    number_at = header.index("member_number")
    line = reader.line_num + 1
    for cells in records:
        if any(cell.strip() for cell in cells):
            number = cells[number_at].strip() if number_at < len(cells) else ""
            if len(cells) != len(header):
                problem = f"has {len(cells)} cells, the header has {len(header)}"
                yield Row(line=line, member_number=number, cells=None, problem=problem)
            else:
                yield Row(line, number, dict(zip(header, cells, strict=True)))
        line = reader.line_num + 1

"""Every CSV the hub writes: a cell a spreadsheet would evaluate is written as text."""

from __future__ import annotations

import csv
import io

import pytest

from core import csvfile


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+81 90", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'],
)
def test_a_cell_a_spreadsheet_would_evaluate_reads_back_as_text(cell: str) -> None:
    out = io.StringIO()

    csvfile.writer(out).writerow(["M-1", cell])

    [row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert row == ["M-1", "'" + cell]


def test_plain_text_numbers_and_empty_cells_are_written_as_they_are() -> None:
    out = io.StringIO()

    csvfile.writer(out).writerows([["M-1", "佐藤 花子", "a=b", 42, -5, None, ""]])

    assert out.getvalue() == "M-1,佐藤 花子,a=b,42,-5,,\r\n"

"""The data map page shows the data map the code has, and the code's map names real columns
with the right encryption."""

from __future__ import annotations

from pathlib import Path

from core.crypto import EncryptedText
from privacy.datamap import PERSONAL_COLUMNS, markdown_table
from tsunagu.models import Base

PAGE = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "data-map.md"


def test_the_data_map_page_shows_the_table_the_code_generates() -> None:
    assert markdown_table() in PAGE.read_text(encoding="utf-8"), (
        "docs/concepts/data-map.md is stale: paste the output of `tsunagu privacy data-map`"
    )


def test_every_mapped_column_exists_and_says_truly_whether_it_is_encrypted() -> None:
    tables = Base.metadata.tables
    for (table, column), entry in PERSONAL_COLUMNS.items():
        assert column in tables[table].columns, (table, column)
        encrypted = isinstance(tables[table].columns[column].type, EncryptedText)
        assert entry.encrypted == encrypted, (table, column)


def test_the_cli_prints_the_data_map(cli) -> None:
    result = cli("privacy", "data-map")

    assert result.exit_code == 0
    assert result.output.strip() == markdown_table()

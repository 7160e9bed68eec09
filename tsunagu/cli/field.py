"""``tsunagu field …``: a shop's custom fields, and their values imported from a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core import audit, csvfile, tenancy
from crm import fields
from crm.field_import import FieldImport, import_rows
from tsunagu.cli.support import session_scope

field_app = typer.Typer(
    help="Custom fields (友だち情報欄): list them, import values.", no_args_is_help=True
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
ERRORS_SHOWN = 20
ShopOption = Annotated[str, typer.Option(help="The shop's slug.")]


@field_app.command("list")
def field_list(shop: ShopOption) -> None:
    """The shop's fields in chart order: key, label, type, choices."""
    with session_scope() as session:
        shop_row = tenancy.get_shop(session, shop)
        table = Table("key", "label", "type", "choices")
        for definition in fields.definitions(session, shop_row.id):
            table.add_row(
                definition.key, definition.label, definition.type, ", ".join(definition.choices)
            )
        console.print(table)


@field_app.command("import")
def field_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    shop: ShopOption,
    encoding: Annotated[
        str, typer.Option(help="File encoding; `cp932` for Shift_JIS exports from Excel.")
    ] = "utf-8-sig",
    errors: Annotated[
        Path | None, typer.Option(help="Write every failed row (line, key, reason) here.")
    ] = None,
) -> None:
    """Set friends' fields from a CSV: a line_user_id or member_number column, then one column
    per field key; an empty cell leaves a value, `-` clears it."""
    with session_scope() as session:
        shop_row = tenancy.get_shop(session, shop)
        try:
            with file.open(encoding=encoding, newline="") as handle:
                result = import_rows(
                    session,
                    shop_id=shop_row.id,
                    rows=csv.reader(handle),
                    actor=f"cli:field-import:{file.name}",
                )
        except (UnicodeDecodeError, csv.Error) as exc:
            err.print(f"[red]error:[/red] not a {encoding} CSV file ({exc}); nothing imported")
            raise typer.Exit(1) from exc
        counts: dict[str, Any] = {str(k): v for k, v in result.counts.items()}
        audit.record(
            session,
            shop_id=shop_row.id,
            actor="cli",
            action="field.import",
            subject_type="file",
            subject_id=file.name,
            **counts,
        )
    _report(result, errors)
    if result.counts["failed"]:
        raise typer.Exit(1)


def _report(result: FieldImport, errors_path: Path | None) -> None:
    if errors_path is not None:
        csvfile.write_row_errors(errors_path, result.errors)
    for problem in result.errors[:ERRORS_SHOWN]:
        err.print(
            f"line {problem.line} ({problem.key or 'no key'}): {problem.reason}",
            markup=False,
            highlight=False,
        )
    hidden = len(result.errors) - ERRORS_SHOWN
    if hidden > 0:
        where = f"all are in {errors_path}" if errors_path else "--errors FILE lists them all"
        err.print(f"... and {hidden:,} more failed rows ({where})")
    counts = result.counts
    console.print(", ".join(f"{k} {counts[k]:,}" for k in ("updated", "unchanged", "failed")))

"""``tsunagu tag add|remove NAME``: put a tag on many friends, or take it off, by segment or
from a CSV file of member numbers or LINE user ids.

A CSV row that names no friend (an unknown member, one not linked to LINE, a malformed user id)
is reported with its line and reason, and skipped; the rest of the file still applies. Each
batch commits on its own; the whole run is audited once, with its counts.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select, union

from core import csvfile, tenancy
from core.csvfile import RowError
from core.db import Database
from core.errors import HubError
from core.tenancy import Channel
from idlink import tag_queries, tagging
from idlink.models import Tag
from idlink.tag_schemas import TagCreate
from idlink.tagging import BulkOutcome
from messaging.segments import segments
from tsunagu.cli.support import load_settings
from tsunagu.hub import open_database

tag_app = typer.Typer(
    help="Tags: put one on many friends, or take it off (by segment or CSV).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

BATCH = 1000
ERRORS_SHOWN = 20
KEY_COLUMNS = ("member_number", "line_user_id")
LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")

ShopOption = Annotated[str, typer.Option(help="The shop's slug.")]
SegmentOption = Annotated[
    str | None, typer.Option(help="A segment's name: every friend in it now, on every channel.")
]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        exists=True,
        dir_okay=False,
        readable=True,
        help="A CSV whose header has member_number and/or line_user_id.",
    ),
]
ErrorsOption = Annotated[
    Path | None, typer.Option(help="Write every row that named no friend (line, key, reason).")
]
EncodingOption = Annotated[
    str, typer.Option(help="CSV encoding; `cp932` for Shift_JIS exports from Excel.")
]


class TagRunAborted(Exception):
    """The run cannot start (no such tag to remove, an unreadable file, no key column)."""


@dataclass(slots=True)
class Targets:
    """The friends a segment or file names, and the rows that named none."""

    friend_ids: list[int] = field(default_factory=list)
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)


def _read_csv(path: Path, encoding: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle)
            header = [cell.strip().lower() for cell in next(reader, [])]
            rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except (UnicodeDecodeError, LookupError) as exc:
        raise TagRunAborted(f"{path.name} is not {encoding}: try --encoding cp932") from exc
    except csv.Error as exc:
        raise TagRunAborted(f"{path.name} is not CSV: {exc}") from exc
    if not any(column in header for column in KEY_COLUMNS):
        raise TagRunAborted(
            f"the header must name member_number or line_user_id (it has: "
            f"{', '.join(header) or 'nothing'})"
        )
    return header, rows


def csv_targets(database: Database, shop_id: int, path: Path, encoding: str) -> Targets:
    """The friends each row names by member number or LINE user id, a batch of look-ups at a
    time; a row naming none is an error with its reason."""
    header, rows = _read_csv(path, encoding)
    number_at = header.index("member_number") if "member_number" in header else None
    user_at = header.index("line_user_id") if "line_user_id" in header else None
    targets = Targets(rows=len(rows))
    for start in range(0, len(rows), BATCH):
        batch = [
            (line, _cell(cells, number_at), _cell(cells, user_at))
            for line, cells in rows[start : start + BATCH]
        ]
        with database.session_scope() as session:
            by_number = tag_queries.friends_by_member_number(
                session, shop_id, {n for _, n, _ in batch if n}
            )
            by_user = tag_queries.friends_by_line_user_id(
                session, shop_id, {u for _, _, u in batch if u and LINE_USER_ID.fullmatch(u)}
            )
        for line, number, user_id in batch:
            found, problem = _friends_of(number, user_id, by_number, by_user)
            if problem:
                targets.errors.append(RowError(line, number or user_id or "", problem))
            targets.friend_ids.extend(found)
    return targets


def _cell(cells: list[str], at: int | None) -> str:
    return cells[at].strip() if at is not None and at < len(cells) else ""


def _friends_of(
    number: str,
    user_id: str,
    by_number: dict[str, list[int]],
    by_user: dict[str, list[int]],
) -> tuple[list[int], str | None]:
    """The friends one row names, or why it names none."""
    if user_id:
        if not LINE_USER_ID.fullmatch(user_id):
            return [], "not a LINE user id (U and 32 hexadecimal digits)"
        if user_id in by_user:
            return by_user[user_id], None
        if not number:
            return [], "no friend of the shop has this LINE user id"
    if not number:
        return [], "neither a member number nor a LINE user id"
    if number not in by_number:
        return [], "no member with this number"
    if not by_number[number]:
        return [], "the member is not linked to a LINE friend"
    return by_number[number], None


def segment_targets(database: Database, shop_id: int, name: str) -> Targets:
    """Every friend in the segment now, on each of the shop's channels."""
    with database.session_scope() as session:
        segment = segments.get(session, shop_id=shop_id, name=name)
        channels = session.scalars(select(Channel).where(Channel.shop_id == shop_id)).all()
        queries = [segments.audience(session, segment=segment, channel=c) for c in channels]
        ids = list(session.scalars(union(*queries))) if queries else []
    return Targets(friend_ids=sorted(set(ids)), rows=len(ids))


def _run(
    name: str,
    *,
    shop: str,
    segment: str | None,
    csv_path: Path | None,
    errors: Path | None,
    encoding: str,
    add: bool,
) -> None:
    if (segment is None) == (csv_path is None):
        err.print("[red]error:[/red] name the friends with one of --segment or --csv")
        raise typer.Exit(2)
    try:
        tag_name = TagCreate(name=name).name
    except ValidationError as exc:
        err.print(f"[red]error:[/red] {escape(name)!r} is not a tag name: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from exc
    source = f"import:{csv_path.name}" if csv_path else f"cli:segment:{segment}"
    database = open_database(load_settings())
    try:
        with database.session_scope() as session:
            shop_id = tenancy.get_shop(session, shop).id
        if not add:
            _tag_to_use(database, shop_id, tag_name, add=False)
        # What the run names is read (and checked) before a new tag is created.
        if csv_path is not None:
            targets = csv_targets(database, shop_id, csv_path, encoding)
        else:
            targets = segment_targets(database, shop_id, str(segment))
        tag_id = _tag_to_use(database, shop_id, tag_name, add=add)
        outcome = _apply(database, tag_id, targets.friend_ids, add=add, source=source)
        with database.session_scope() as session:
            tagging.audit_bulk(
                session,
                tag=session.get_one(Tag, tag_id),
                add=add,
                actor="cli",
                outcome=outcome,
                source=source,
                rows=targets.rows,
                failed=len(targets.errors),
            )
    except (HubError, TagRunAborted) as exc:
        err.print(f"[red]error:[/red] {escape(str(getattr(exc, 'detail', exc)))}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    _report(targets, outcome, errors, add=add)
    if targets.errors:
        raise typer.Exit(1)


def _tag_to_use(database: Database, shop_id: int, name: str, *, add: bool) -> int:
    """The tag's id; adding creates the tag if new, removing needs it."""
    with database.session_scope() as session:
        tag = tagging.find_tag(session, shop_id=shop_id, name=name)
        if tag is None and not add:
            raise TagRunAborted(f"the shop has no tag {name!r}: nothing to remove")
        if tag is None:
            tag = tagging.create_tag(
                session, shop_id=shop_id, body=TagCreate(name=name), actor="cli"
            )
        return tag.id


def _apply(
    database: Database, tag_id: int, friend_ids: list[int], *, add: bool, source: str
) -> BulkOutcome:
    """Tag (or untag) the friends a committed batch at a time, with a progress bar."""
    changed = unchanged = 0
    ids = list(dict.fromkeys(friend_ids))
    with Progress(
        TextColumn("tagging" if add else "untagging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("tag", total=len(ids))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            with database.session_scope() as session:
                outcome = tagging.tag_many(
                    session,
                    tag=session.get_one(Tag, tag_id),
                    friend_ids=chunk,
                    add=add,
                    source=source,
                )
            changed += outcome.changed
            unchanged += outcome.unchanged
            bar.advance(task, len(chunk))
    return BulkOutcome(changed=changed, unchanged=unchanged)


def _report(targets: Targets, outcome: BulkOutcome, errors_path: Path | None, *, add: bool) -> None:
    """The rows that named no friend (the first few, all in --errors), then one summary."""
    for problem in targets.errors[:ERRORS_SHOWN]:
        err.print(f"line {problem.line} ({problem.key or 'empty'}): {problem.reason}", markup=False)
    hidden = len(targets.errors) - ERRORS_SHOWN
    if hidden > 0 and errors_path is None:
        err.print(f"... and {hidden:,} more rows (--errors FILE lists them all)")
    if errors_path is not None:
        csvfile.write_row_errors(errors_path, targets.errors)
    done, already = ("tagged", "already tagged") if add else ("untagged", "not tagged")
    console.print(
        f"{done} {outcome.changed:,}, {already} {outcome.unchanged:,}, "
        f"failed {len(targets.errors):,} ({targets.rows:,} rows)"
    )


NameArgument = Annotated[str, typer.Argument(help="The tag's name.")]


@tag_app.command("add")
def tag_add(
    name: NameArgument,
    shop: ShopOption,
    segment: SegmentOption = None,
    csv_file: CsvOption = None,
    errors: ErrorsOption = None,
    encoding: EncodingOption = "utf-8-sig",
) -> None:
    """Put the tag on every friend of a segment or a CSV file (creating the tag if new)."""
    _run(
        name,
        shop=shop,
        segment=segment,
        csv_path=csv_file,
        errors=errors,
        encoding=encoding,
        add=True,
    )


@tag_app.command("remove")
def tag_remove(
    name: NameArgument,
    shop: ShopOption,
    segment: SegmentOption = None,
    csv_file: CsvOption = None,
    errors: ErrorsOption = None,
    encoding: EncodingOption = "utf-8-sig",
) -> None:
    """Take the tag off every friend of a segment or a CSV file."""
    _run(
        name,
        shop=shop,
        segment=segment,
        csv_path=csv_file,
        errors=errors,
        encoding=encoding,
        add=False,
    )

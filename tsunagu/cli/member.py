"""``tsunagu member …``: add one member, or import a shop's member list from a CSV file.

The import streams the file (any size, constant memory), commits in batches, and can be re-run:
rows are upserted on their member number. A bad row is reported with its line number and
skipped; the rest of the file still loads.
"""

from __future__ import annotations

import codecs
import io
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, csvfile, tenancy
from core.csvfile import RowError
from core.db import Database
from core.errors import HubError
from idlink import member_import as imports
from idlink import members as member_service
from idlink import search_index
from idlink.member_import import ImportOutcome
from idlink.members import MemberFields
from idlink.models import Member
from tsunagu.cli.member_file import CountingReader, ImportAborted, Row, read_rows
from tsunagu.cli.support import load_settings, session_scope
from tsunagu.hub import open_database

if TYPE_CHECKING:
    pass

member_app = typer.Typer(help="Members of a shop: add one, import a CSV.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# A batch commits after this many seconds even if it is not full: hashing PINs (scrypt) is slow,
# and on SQLite a long transaction would keep the running hub from writing webhooks.
BATCH_MAX_SECONDS = 2.0
ERRORS_SHOWN = 20
SUMMARY = ("created", "updated", "unchanged", "skipped", "failed")


def _import_row(
    session: Session, *, shop_id: int, row: Row, update: bool, known: dict[str, Member]
) -> ImportOutcome:
    if row.cells is None:
        raise member_service.InvalidMemberData("row", row.problem or "unreadable")
    number, fields = imports.fields_from_row(row.cells)
    with session.begin_nested():
        return imports.import_member(
            session,
            shop_id=shop_id,
            member_number=number,
            fields=fields,
            update=update,
            known=known,
        )


@dataclass(slots=True)
class Importer:
    """Runs rows through the member service in batches and keeps the tally."""

    database: Database
    shop_id: int
    update: bool
    batch_size: int
    errors_out: Any = None
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[RowError] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)

    def run(self, rows: Iterator[Row]) -> None:
        """Import every row, one committed batch after another."""
        while self._batch(rows):
            pass

    def _batch(self, rows: Iterator[Row]) -> bool:
        """Import the next batch with one look-up of its members; False when none are left."""
        batch = list(itertools.islice(rows, self.batch_size))
        if not batch:
            return False
        with self.database.session_scope() as session:
            known = member_service.members_by_number(
                session, shop_id=self.shop_id, numbers=(row.member_number for row in batch)
            )
            started = time.monotonic()
            for row in batch:
                self._one(session, row, known)
                if time.monotonic() - started > BATCH_MAX_SECONDS:
                    # The CLI owns this unit of work: commit early so a slow batch (PIN
                    # hashing) never holds SQLite's write lock for long.
                    session.commit()
                    started = time.monotonic()
        return True

    def _one(self, session: Session, row: Row, known: dict[str, Member]) -> None:
        number = row.member_number
        try:
            outcome = _import_row(
                session, shop_id=self.shop_id, row=row, update=self.update, known=known
            )
        except HubError as exc:
            self._fail(RowError(row.line, number, exc.detail))
            return
        except IntegrityError:
            self._fail(RowError(row.line, number, "written meanwhile by someone else; re-run"))
            return
        self.counts[outcome] += 1
        if outcome is ImportOutcome.SKIPPED and len(self.skipped) < ERRORS_SHOWN:
            self.skipped.append(RowError(row.line, number, "exists with different values"))

    def _fail(self, error: RowError) -> None:
        self.counts["failed"] += 1
        if len(self.failures) < ERRORS_SHOWN:
            self.failures.append(error)
        if self.errors_out is not None:
            self.errors_out.writerow([error.line, error.key, error.reason])


@contextmanager
def _errors_writer(path: Path | None) -> Iterator[Any]:
    """A CSV writer for every failed row, or None when no --errors file was asked for."""
    if path is None:
        yield None
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csvfile.writer(handle)
        writer.writerow(["line", "member_number", "reason"])
        yield writer


def _progress() -> Progress:
    return Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def _tracked(
    rows: Iterator[Row], counter: CountingReader, bar: Progress, task: TaskID
) -> Iterator[Row]:
    for count, row in enumerate(rows, start=1):
        yield row
        bar.update(task, completed=counter.bytes_read, rows=count)


@member_app.command("import")
def member_import(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file."),
    ],
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    update: Annotated[
        bool, typer.Option("--update", help="Change existing members whose row differs.")
    ] = False,
    encoding: Annotated[
        str, typer.Option(help="File encoding; `cp932` for Shift_JIS exports from Excel.")
    ] = "utf-8-sig",
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per committed batch.")] = 500,
    errors: Annotated[
        Path | None, typer.Option(help="Write every failed row (line, number, reason) here.")
    ] = None,
) -> None:
    """Import members from a CSV file whose header names the columns; re-runs are safe."""
    database = open_database(load_settings())
    try:
        with database.session_scope() as session:
            target = tenancy.get_shop(session, shop)
        started = time.monotonic()
        importer = Importer(database, target.id, update, batch_size)
        # Whatever stops the import (a bad byte, Ctrl-C, a lost database), what it did so far
        # is committed: the audit log says so, with the counts and why it stopped.
        stopped: str | None = "interrupted"
        try:
            _run_import(importer, file, encoding, errors)
            stopped = None
        except (HubError, ImportAborted) as exc:
            stopped = str(getattr(exc, "detail", exc))
            raise
        finally:
            _audit_import(database, importer, file, stopped)
        elapsed = time.monotonic() - started
    except (HubError, ImportAborted) as exc:
        err.print(f"[red]error:[/red] {escape(str(getattr(exc, 'detail', exc)))}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    _report(importer, elapsed, errors)
    if importer.counts["failed"]:
        raise typer.Exit(1)


def _audit_import(database: Database, importer: Importer, file: Path, stopped: str | None) -> None:
    """One audit record per import, complete or not: its counts, and why it stopped."""
    detail: dict[str, Any] = {str(k): v for k, v in importer.counts.items()}
    if stopped is not None:
        detail["stopped"] = stopped[:500]
    with database.session_scope() as session:
        audit.record(
            session,
            shop_id=importer.shop_id,
            actor="cli",
            action="member.import",
            subject_type="file",
            subject_id=file.name,
            update=importer.update,
            **detail,
        )


def _run_import(importer: Importer, file: Path, encoding: str, errors_path: Path | None) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportAborted(f"unknown encoding {encoding!r}: try utf-8-sig or cp932") from exc
    with file.open("rb") as raw, _errors_writer(errors_path) as errors_out:
        importer.errors_out = errors_out
        counter = CountingReader(raw)
        text = io.TextIOWrapper(io.BufferedReader(counter), encoding=encoding, newline="")
        with _progress() as bar:
            task = bar.add_task("import", total=file.stat().st_size, rows=0)
            try:
                importer.run(_tracked(read_rows(text), counter, bar, task))
            except UnicodeDecodeError as exc:
                raise ImportAborted(
                    f"the file is not {encoding} ({exc.reason}); rows before it were imported. "
                    "Try --encoding cp932 for Shift_JIS"
                ) from exc


def _report(importer: Importer, elapsed: float, errors_path: Path | None) -> None:
    """The per-row problems, then one summary line."""
    counts = importer.counts
    for problem in importer.failures:
        err.print(
            f"line {problem.line} ({problem.key or 'no number'}): {problem.reason}",
            markup=False,
            highlight=False,
        )
    hidden = counts["failed"] - len(importer.failures)
    if hidden > 0:
        where = f"all are in {errors_path}" if errors_path else "--errors FILE lists them all"
        err.print(f"... and {hidden:,} more failed rows ({where})")
    skipped = counts[ImportOutcome.SKIPPED]
    if skipped:
        lines = ", ".join(str(s.line) for s in importer.skipped)
        more = ", ..." if skipped > len(importer.skipped) else ""
        err.print(
            f"{skipped:,} existing members differ from their rows (lines {lines}{more}): "
            "re-run with --update to change them"
        )
    summary = ", ".join(f"{outcome} {counts[outcome]:,}" for outcome in SUMMARY)
    console.print(f"{summary} ({sum(counts.values()):,} rows in {elapsed:.1f} s)")


def _attributes(values: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            err.print(f"[red]error:[/red] --attr takes key=value, got {item!r}")
            raise typer.Exit(2)
        pairs[key.strip()] = value
    return pairs


@member_app.command("add")
def member_add(
    member_number: Annotated[str, typer.Argument(help="The member's number in the shop.")],
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone, e.g. 090-1234-5678.")] = None,
    birth_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    pin: Annotated[
        str | None,
        typer.Option(envvar="TSUNAGU_NEW_MEMBER_PIN", help="PIN (stored hashed)."),
    ] = None,
    attr: Annotated[
        list[str] | None, typer.Option(help="Extra attribute as key=value (repeatable).")
    ] = None,
) -> None:
    """Add one member to a shop."""
    fields = MemberFields(
        name=name,
        email=email,
        phone=phone,
        birth_date=birth_date,
        pin=pin,
        attributes=_attributes(attr or []),
    )
    with session_scope() as session:
        member = member_service.create_member(
            session,
            shop_id=tenancy.get_shop(session, shop).id,
            member_number=member_number,
            fields=fields,
            actor="cli",
        )
        console.print(f"member {member.member_number} added to shop {shop} (id {member.id})")


@member_app.command("reindex")
def member_reindex(
    shop: Annotated[str | None, typer.Option(help="Only this shop (slug); default: all.")] = None,
) -> None:
    """Rebuild the members' name search index (after an upgrade or a change of secret key)."""
    with session_scope() as session:
        shop_ids = None if shop is None else [tenancy.get_shop(session, shop).id]
        indexed = search_index.reindex(session, shop_ids=shop_ids)
    console.print(f"{indexed} members indexed")

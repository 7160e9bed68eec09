"""``tsunagu connector …`` and ``tsunagu sync``: configure connections and run their syncs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select

from commerce import connections, sync
from commerce.models import Connection
from core import tenancy
from core.errors import HubError
from tsunagu.cli.support import load_settings, session_scope
from tsunagu.hub import open_database

connector_app = typer.Typer(help="Connections to Shopify, Salesforce, reservation systems.")
console = Console()
err = Console(stderr=True)


def _pairs(values: list[str], what: str) -> dict[str, object]:
    """``key=value`` pairs; a value that parses as JSON (numbers, lists, true) is taken as such."""
    parsed: dict[str, object] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]error:[/red] --{what} takes key=value, got {item!r}")
            raise typer.Exit(2)
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


@connector_app.command("add")
def connector_add(
    kind: Annotated[str, typer.Argument(help="shopify, salesforce, reservations, calcom, ical")],
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    name: Annotated[str, typer.Option(help="A name for this connection, unique in the shop.")],
    base_url: Annotated[
        str | None, typer.Option(help="The system's API base URL (a sandbox, a proxy).")
    ] = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(help="Secret as key=value (repeatable); encrypted at rest."),
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="Setting as key=value (repeatable).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Zone of zone-less times.")] = "Asia/Tokyo",
    interval: Annotated[int, typer.Option(help="Seconds between scheduled syncs.")] = 900,
) -> None:
    """Add a connection to a shop."""
    settings = load_settings()
    with session_scope() as session:
        connection = connections.create_connection(
            session,
            shop=tenancy.get_shop(session, shop),
            kind=kind,
            name=name,
            base_url=base_url,
            credentials=_pairs(credential or [], "credential"),
            options=_pairs(option or [], "option"),
            timezone=timezone,
            sync_interval_seconds=interval,
        )
        console.print(f"connection {connection.id} ({kind}) {name!r} added to shop {shop}")
        if kind == "shopify":
            console.print(f"webhook URL: {settings.public_url}/webhooks/shopify/{connection.id}")
        if kind in ("reservations", "calcom"):
            url = f"{settings.public_url}/webhooks/reservations/{connection.id}"
            console.print(f"webhook URL: {url}")


@connector_app.command("list")
def connector_list(
    shop: Annotated[str | None, typer.Option(help="Only this shop's connections.")] = None,
) -> None:
    """List connections with their status and last run."""
    with session_scope() as session:
        query = select(Connection).order_by(Connection.id)
        if shop:
            query = query.where(Connection.shop_id == tenancy.get_shop(session, shop).id)
        table = Table("id", "kind", "name", "status", "interval", "last run", "last error")
        for connection in session.scalars(query):
            runs = sync.last_runs(session, connection.id, limit=1)
            last = runs[0] if runs else None
            table.add_row(
                str(connection.id),
                connection.kind,
                connection.name,
                _status(connection),
                f"{connection.sync_interval_seconds}s",
                f"{last.stream} {last.status} {last.started_at:%Y-%m-%d %H:%M}" if last else "-",
                (last.error or "-") if last else "-",
            )
        console.print(table)


def _status(connection: Connection) -> str:
    reason = connection.status_reason
    return f"{connection.status} ({reason})" if reason else connection.status


def sync_command(
    connection: Annotated[int, typer.Argument(help="Connection id (`tsunagu connector list`).")],
    full: Annotated[bool, typer.Option("--full", help="Re-read everything.")] = False,
    since: Annotated[
        datetime | None, typer.Option(help="Re-read changes since this date (UTC).")
    ] = None,
    stream: Annotated[
        list[str] | None, typer.Option(help="Only these streams (repeatable).")
    ] = None,
) -> None:
    """Run a connection's sync now, with progress."""
    if full and since:
        err.print("[red]error:[/red] --full and --since exclude each other")
        raise typer.Exit(2)
    database = open_database(load_settings())
    since_utc = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stream_name: str, count: int) -> None:
                if stream_name not in tasks:
                    tasks[stream_name] = progress.add_task(stream_name, total=None)
                progress.advance(tasks[stream_name], count)

            results = sync.run_sync(
                database,
                connection_id=connection,
                streams=stream or None,
                full=full,
                since=since_utc,
                progress=advance,
            )
    except HubError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    table = Table("stream", "status", "pages", "created", "updated", "unchanged", "stale", "error")
    for r in results:
        table.add_row(
            r.stream,
            r.status,
            str(r.pages),
            *(str(r.counts.get(k, 0)) for k in ("created", "updated", "unchanged", "stale")),
            r.error or "-",
        )
    console.print(table)
    if any(r.status != "succeeded" for r in results):
        raise typer.Exit(1)

"""``tsunagu apply`` and ``tsunagu campaign …``: campaigns as code, their status and reports."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select

from config import Settings
from core import tenancy
from core.db import Database
from core.errors import HubError
from jobs.celery_app import BrokerSender, create_celery
from jobs.tasks import dispatch_config
from messaging import declarations
from messaging.campaigns import campaigns, reports, segment_deliveries
from messaging.campaigns.models import Campaign
from messaging.declarations import ChangePlan
from messaging.outbox import dispatcher, service
from messaging.outbox.limiter import limiter_for
from tsunagu import declared
from tsunagu.cli.support import load_settings, session_scope
from tsunagu.hub import open_database

campaign_app = typer.Typer(help="Campaigns: list, run, report.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

ShopOption = Annotated[str, typer.Option(help="The shop's slug.")]


def read_declarations(path: Path) -> dict[str, Any]:
    """A declaration file (YAML, of which JSON is a subset) as a mapping."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(document, dict):
        err.print(f"[red]error:[/red] {path}: expected a mapping with `shop:` and `campaigns:` …")
        raise typer.Exit(2)
    return document


def _print_plan(plan: ChangePlan) -> None:
    styles = {"create": "green", "update": "yellow", "unchanged": "dim"}
    for change in plan.changes:
        style = styles[change.action]
        console.print(f"[{style}]{change.action:>9}[/{style}] {change.kind} {change.name!r}")
        for line in change.diff:
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"           [{colour}]{line}[/{colour}]", markup=True, highlight=False)
    for kind, names in plan.not_declared.items():
        console.print(f"[dim]not in the file (left as they are): {kind} {', '.join(names)}[/dim]")


def apply_command(
    path: Annotated[Path, typer.Argument(help="A YAML (or JSON) declaration file.")],
    shop: Annotated[
        str | None, typer.Option(help="The shop's slug (default: the file's `shop:`).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the changes, apply nothing.")] = False,
) -> None:
    """Apply a campaigns file: validated, the changes shown first, nothing twice."""
    document = read_declarations(path)
    slug = shop or document.get("shop")
    if not slug:
        err.print("[red]error:[/red] name the shop: `shop:` in the file or --shop")
        raise typer.Exit(2)
    if shop and document.get("shop") not in (None, shop):
        err.print(f"[red]error:[/red] the file is for shop {document['shop']!r}, not {shop!r}")
        raise typer.Exit(2)
    with session_scope() as session:
        shop_row = tenancy.get_shop(session, str(slug))
        plan = declarations.plan_changes(
            session, shop_id=shop_row.id, document=document, kinds=declared.KINDS
        )
        _print_plan(plan)
        if not plan.pending:
            console.print("nothing to change")
            return
        if dry_run:
            console.print(f"{len(plan.pending)} change(s) not applied (--dry-run)")
            return
        if not yes:
            if not sys.stdin.isatty():
                err.print("[red]error:[/red] not applied: confirm with --yes (no terminal to ask)")
                raise typer.Exit(1)
            typer.confirm(f"apply {len(plan.pending)} change(s)?", abort=True)
        count = declarations.apply_changes(
            session,
            shop_id=shop_row.id,
            plan=plan,
            actor=f"cli:apply:{path.name}",
            kinds=declared.KINDS,
        )
        console.print(f"applied {count} change(s)")


@campaign_app.command("list")
def campaign_list(shop: ShopOption) -> None:
    """The shop's campaigns with their status."""
    with session_scope() as session:
        shop_row = tenancy.get_shop(session, shop)
        table = Table("id", "name", "kind", "status", "source")
        for campaign in session.scalars(
            select(Campaign).where(Campaign.shop_id == shop_row.id).order_by(Campaign.id)
        ):
            table.add_row(
                str(campaign.id), campaign.name, campaign.kind, campaign.status, campaign.source
            )
        console.print(table)


@campaign_app.command("report")
def campaign_report(
    name: Annotated[str, typer.Argument(help="The campaign's name.")],
    shop: ShopOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Planned, suppressed by reason, sent, failed, clicked, purchases attributed to LINE."""
    with session_scope() as session:
        shop_row = tenancy.get_shop(session, shop)
        campaign = campaigns.find(session, shop_id=shop_row.id, name=name)
        if campaign is None:
            err.print(f"[red]error:[/red] no campaign {name!r}: `tsunagu campaign list`")
            raise typer.Exit(1)
        figures = reports.campaign_report(session, campaign=campaign)
    if as_json:
        console.print_json(json.dumps(figures, default=_plain))
        return
    table = Table("figure", "value", title=f"campaign {name!r} ({figures.status})")
    table.add_row("planned", str(figures.planned))
    for reason, count in figures.suppressed.items():
        table.add_row(f"suppressed: {reason}", str(count))
    table.add_row("sent", str(figures.sent))
    table.add_row("failed", str(figures.failed))
    if figures.uncertain:
        table.add_row("uncertain (LINE may or may not have delivered)", str(figures.uncertain))
    table.add_row("clicked (friends / clicks)", f"{figures.clicked} / {figures.clicks}")
    for label, attributed in (
        ("after delivery", figures.after_delivery),
        ("after click", figures.after_click),
    ):
        revenue = ", ".join(f"{amount:,.0f} {cur}" for cur, amount in attributed.revenue.items())
        table.add_row(
            f"purchases {label} ({figures.attribution_days} d)",
            f"{attributed.purchases} ({revenue or 'no revenue'})",
        )
    if figures.coupons is not None:
        coupons = figures.coupons
        revenue = ", ".join(f"{amount:,.0f} {cur}" for cur, amount in coupons.revenue.items())
        redeemed = f"{coupons.redeemed} / {coupons.issued} ({coupons.rate:.1%}"
        table.add_row("coupon codes redeemed / issued", f"{redeemed}; {revenue or 'no revenue'})")
    console.print(table)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    return str(value)


# Deliveries still on their way; the rest (sent, failed, suppressed, cancelled) are settled.
_OPEN = ("pending", "sending", "held")


@campaign_app.command("run")
def campaign_run(
    name: Annotated[str, typer.Argument(help="The segment campaign's name.")],
    shop: ShopOption,
    wait: Annotated[bool, typer.Option(help="Follow the delivery until it is settled.")] = True,
) -> None:
    """Send a segment campaign now, with a progress bar until every delivery is settled.

    With a broker, the workers do the sending and this follows their progress; without one
    (embedded), this process freezes the audience and sends itself (alongside a running
    ``tsunagu serve``, if there is one: each delivery is still sent once).
    """
    settings = load_settings()
    sender = (
        BrokerSender(create_celery(settings, load_tasks=False)) if settings.broker_url else None
    )
    database = open_database(settings, task_sender=sender)
    try:
        with database.session_scope() as session:
            shop_row = tenancy.get_shop(session, shop)
            campaign = campaigns.find(session, shop_id=shop_row.id, name=name)
            if campaign is None:
                err.print(f"[red]error:[/red] no campaign {name!r}: `tsunagu campaign list`")
                raise typer.Exit(1)
            campaigns.run_now(session, campaign=campaign, actor=f"cli:campaign run {name}")
            campaign_id = campaign.id
        if not wait:
            console.print(f"campaign {name!r} starts now")
            return
        worker = None if sender else _send_here(database, settings)
        try:
            _follow(database, campaign_id, name)
        finally:
            # Whatever ended the following (a stall, an error), the database is not closed
            # under the sending thread.
            if worker is not None:
                worker.join()
    except HubError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()


def _send_here(database: Database, settings: Settings) -> threading.Thread:
    """Start the campaign and dispatch its deliveries in this process (no broker)."""

    def work() -> None:
        with database.session_scope() as session:
            segment_deliveries.run(session, settings=settings)
        limiter = limiter_for(settings.broker_url, settings.resolved_database_url)
        dispatcher.run(database, config=dispatch_config(settings), limiter=limiter)

    thread = threading.Thread(target=work, name="tsunagu-campaign-run", daemon=True)
    thread.start()
    return thread


def _follow(database: Database, campaign_id: int, name: str) -> None:
    """A progress bar over the campaign's deliveries until none is open or nothing moves."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    last_change, last = time.monotonic(), None
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"campaign {name!r}: freezing the audience", total=None)
        while True:
            with database.session_scope() as session:
                campaign = session.get_one(Campaign, campaign_id)
                counts = service.counts_by_state(session, source=campaign.source)
                started = campaign.started_at is not None
            total = sum(counts.values())
            open_ = sum(counts.get(state, 0) for state in _OPEN)
            if started:
                progress.update(
                    task, description=f"campaign {name!r}", total=total, completed=total - open_
                )
            if started and open_ == 0:
                break
            if (counts, started) != last:
                last_change, last = time.monotonic(), (counts, started)
            elif time.monotonic() - last_change > STALL_SECONDS:
                break
            time.sleep(0.5)
    _summary(counts, started)


# Nothing moving for this long: the rest waits for its time (quiet hours, retries, the quota).
STALL_SECONDS = 30.0


def _summary(counts: dict[str, int], started: bool) -> None:
    if not started:
        err.print(
            "[yellow]not started yet:[/yellow] no worker took it; is `tsunagu worker` running?"
        )
        raise typer.Exit(1)
    console.print(", ".join(f"{state} {count:,}" for state, count in sorted(counts.items())))
    waiting = sum(counts.get(state, 0) for state in _OPEN)
    if waiting:
        console.print(
            f"{waiting:,} still waiting (quiet hours, retries or the monthly quota): "
            "`tsunagu campaign report` shows why; the workers send them when they can"
        )

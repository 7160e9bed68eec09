"""``tsunagu coupon …``: coupon pools of per-friend Shopify codes, their codes and reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from commerce import connections
from commerce.coupons import filling, pools, queries
from commerce.coupons.filling import FillProgress
from commerce.coupons.queries import CouponReport
from connectors.errors import ConnectorError
from core import tenancy
from core.errors import HubError
from tsunagu.cli.support import load_settings, session_scope
from tsunagu.hub import open_database

coupon_app = typer.Typer(
    help="Coupon pools: per-friend Shopify codes for `{{ coupon }}`, and their redemption.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
ACTOR = "cli"

ShopOption = Annotated[str, typer.Option(help="The shop's slug.")]


@coupon_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The pool's name, unique in the shop.")],
    shop: ShopOption,
    connection: Annotated[int, typer.Option(help="The Shopify connection's id.")],
    title: Annotated[str, typer.Option(help="The discount's title in Shopify.")],
    prefix: Annotated[str, typer.Option(help="What every code starts with, e.g. WINTER.")],
    percentage: Annotated[
        Decimal | None, typer.Option(help="A new discount taking off this percentage.")
    ] = None,
    amount: Annotated[
        Decimal | None, typer.Option(help="A new discount taking off this amount.")
    ] = None,
    discount_id: Annotated[
        str | None, typer.Option(help="An existing code discount's id (gid://shopify/…).")
    ] = None,
) -> None:
    """Make a pool on a new code discount in the store, or on an existing one."""
    try:
        with session_scope() as session:
            pool = pools.create_pool(
                session,
                shop_id=tenancy.get_shop(session, shop).id,
                connection=connections.get_connection(session, connection),
                name=name,
                title=title,
                code_prefix=prefix,
                discount_id=discount_id,
                percentage=percentage,
                amount=amount,
                actor=ACTOR,
            )
            console.print(f"coupon pool {name!r} on discount {pool.discount_id}")
    except ConnectorError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@coupon_app.command("codes")
def codes(
    name: Annotated[str, typer.Argument(help="The pool's name.")],
    shop: ShopOption,
    count: Annotated[int, typer.Option(help="How many new codes to make (0: only resume).")] = 0,
    poll_seconds: Annotated[
        float, typer.Option(help="Seconds between reads of an unfinished bulk creation.")
    ] = 1.0,
) -> None:
    """Make codes and import them into Shopify (250 a call, paced by the store's limits);
    run again to resume an interrupted import."""
    database = open_database(load_settings())
    try:
        with database.session_scope() as session:
            pool = pools.get(session, shop_id=tenancy.get_shop(session, shop).id, name=name)
            pool_id = pool.id
            if count:
                pools.request_codes(session, pool=pool, count=count, actor=ACTOR)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("codes in Shopify", total=None, detail="")

            def show(now: FillProgress) -> None:
                progress.update(
                    task,
                    total=now.total,
                    completed=now.settled,
                    detail=f"{now.submitted:,} importing, {now.failed:,} refused",
                )

            result = filling.fill(
                database, pool_id=pool_id, on_progress=show, poll_seconds=poll_seconds
            )
    except HubError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    except ConnectorError as exc:
        err.print(f"[red]error:[/red] {exc} (run the same command again to resume)")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    console.print(f"{result.ready:,} codes ready, {result.failed:,} refused by Shopify")


@coupon_app.command("list")
def list_pools(shop: ShopOption) -> None:
    """The shop's pools: codes ready and free, issued, redeemed, revenue."""
    with session_scope() as session:
        rows = queries.pools(session, shop_id=tenancy.get_shop(session, shop).id)
        table = Table("pool", "discount", "ready", "free", *_REPORT_COLUMNS)
        for row in rows:
            table.add_row(
                row.pool.name,
                row.pool.discount_id,
                f"{row.codes.ready:,}",
                f"{row.free:,}",
                *_report_cells(row.report),
            )
        console.print(table)


@coupon_app.command("report")
def report(name: Annotated[str, typer.Argument(help="The pool's name.")], shop: ShopOption) -> None:
    """A pool's report, in all and per campaign that handed out its codes."""
    with session_scope() as session:
        pool = pools.get(session, shop_id=tenancy.get_shop(session, shop).id, name=name)
        table = Table("campaign", *_REPORT_COLUMNS)
        table.add_row("(all)", *_report_cells(queries.pool_row(session, pool).report))
        for campaign_id, found in queries.by_campaign(session, pool_id=pool.id).items():
            table.add_row(f"campaign {campaign_id}", *_report_cells(found))
        console.print(table)


_REPORT_COLUMNS = ("issued", "redeemed", "rate", "revenue", "median hours to redeem")


def _report_cells(found: CouponReport) -> tuple[str, ...]:
    revenue = ", ".join(f"{amount:,.0f} {currency}" for currency, amount in found.revenue.items())
    hours = found.median_hours_to_redeem
    return (
        f"{found.issued:,}",
        f"{found.redeemed:,}",
        f"{found.rate:.1%}",
        revenue or "-",
        "-" if hours is None else f"{hours:g}",
    )

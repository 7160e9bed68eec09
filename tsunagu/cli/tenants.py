"""``tsunagu shop``, ``channel`` and ``token``: a shop, its LINE channels, its API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from core import tenancy
from tsunagu.cli.support import load_settings, session_scope

shop_app = typer.Typer(help="Shops (tenants).", no_args_is_help=True)
channel_app = typer.Typer(help="LINE channels of a shop.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)

console = Console()


@shop_app.command("add")
def shop_add(
    slug: Annotated[str, typer.Argument(help="Short unique name, e.g. `ginza-store`.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    link_policy: Annotated[
        tenancy.LinkPolicy, typer.Option(help="Linking a member already linked elsewhere.")
    ] = tenancy.LinkPolicy.REFUSE,
    second_factor: Annotated[
        tenancy.SecondFactor, typer.Option(help="What members type beside their number.")
    ] = tenancy.SecondFactor.BIRTH_DATE,
) -> None:
    """Create a shop."""
    with session_scope() as session:
        shop = tenancy.create_shop(
            session, slug=slug, name=name, link_policy=link_policy, second_factor=second_factor
        )
        console.print(f"shop [bold]{shop.slug}[/bold] created (id {shop.id})")


@shop_app.command("list")
def shop_list() -> None:
    """List shops."""
    with session_scope() as session:
        table = Table("id", "slug", "name", "link policy", "second factor")
        for shop in session.scalars(select(tenancy.Shop).order_by(tenancy.Shop.id)):
            table.add_row(str(shop.id), shop.slug, shop.name, shop.link_policy, shop.second_factor)
        console.print(table)


@channel_app.command("add")
def channel_add(
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    channel_id: Annotated[str, typer.Option(help="Messaging API channel ID.")],
    channel_secret: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="TSUNAGU_NEW_CHANNEL_SECRET")
    ],
    access_token: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="TSUNAGU_NEW_CHANNEL_TOKEN")
    ],
    provider_id: Annotated[
        str | None, typer.Option(help="LINE provider ID (user IDs are per provider).")
    ] = None,
    login_channel_id: Annotated[
        str | None, typer.Option(help="LINE Login channel ID of the LIFF app.")
    ] = None,
    login_channel_secret: Annotated[
        str | None, typer.Option(help="LINE Login channel secret (HS256 ID tokens).")
    ] = None,
    liff_id: Annotated[str | None, typer.Option(help="LIFF app ID of the member card.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone.")] = "Asia/Tokyo",
) -> None:
    """Register a LINE channel; its secret and token are encrypted and never printed."""
    settings = load_settings()
    with session_scope() as session:
        channel = tenancy.create_channel(
            session,
            shop=tenancy.get_shop(session, shop),
            name=name,
            line_channel_id=channel_id,
            channel_secret=channel_secret,
            access_token=access_token,
            provider_id=provider_id,
            login_channel_id=login_channel_id,
            login_channel_secret=login_channel_secret,
            liff_id=liff_id,
            timezone=timezone,
        )
        console.print(f"channel {channel.line_channel_id} registered for shop {shop}")
        console.print(f"webhook URL: {settings.public_url}/webhooks/line/{channel.line_channel_id}")


@channel_app.command("list")
def channel_list(
    shop: Annotated[str | None, typer.Option(help="Only this shop's channels.")] = None,
) -> None:
    """List channels (secrets are never shown)."""
    with session_scope() as session:
        query = select(tenancy.Channel).order_by(tenancy.Channel.id)
        if shop:
            query = query.where(tenancy.Channel.shop_id == tenancy.get_shop(session, shop).id)
        table = Table("channel id", "shop", "name", "status", "mode", "timezone", "login channel")
        for channel in session.scalars(query):
            table.add_row(
                channel.line_channel_id,
                channel.shop.slug,
                channel.name,
                channel.status,
                channel.mode,
                channel.timezone,
                channel.login_channel_id or "-",
            )
        console.print(table)


@channel_app.command("show")
def channel_show(
    channel_id: Annotated[str, typer.Argument(help="Messaging API channel ID.")],
) -> None:
    """Show one channel's settings (secrets masked)."""
    settings = load_settings()
    with session_scope() as session:
        channel = tenancy.get_channel(session, channel_id)
        table = Table(show_header=False)
        rows = {
            "channel id": channel.line_channel_id,
            "shop": channel.shop.slug,
            "name": channel.name,
            "provider": channel.provider_id,
            "bot user id": channel.bot_user_id or "(learned from the first webhook)",
            "status": channel.status,
            "mode": channel.mode,
            "timezone": channel.timezone,
            "login channel id": channel.login_channel_id or "-",
            "LIFF id": channel.liff_id or "-",
            "channel secret": "********",
            "access token": "********",
            "webhook URL": f"{settings.public_url}/webhooks/line/{channel.line_channel_id}",
        }
        for key, value in rows.items():
            table.add_row(key, value)
        console.print(table)


@token_app.command("create")
def token_create(
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. `crm-sync`.")],
) -> None:
    """Issue an admin API token for one shop; it is shown once."""
    with session_scope() as session:
        _token, plaintext = tenancy.create_token(
            session, shop=tenancy.get_shop(session, shop), name=name
        )
        console.print(f"token {name!r} for shop {shop} (shown once, store it now):")
        console.print(plaintext, soft_wrap=True, markup=False, highlight=False)


@token_app.command("revoke")
def token_revoke(
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    name: Annotated[str, typer.Option(help="The token's name.")],
) -> None:
    """Revoke an admin API token at once."""
    with session_scope() as session:
        tenancy.revoke_token(session, shop=tenancy.get_shop(session, shop), name=name)
        console.print(f"token {name!r} of shop {shop} revoked")

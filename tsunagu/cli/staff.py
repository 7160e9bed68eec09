"""``tsunagu staff …``: console accounts, their roles per shop, and set-password links."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from config import Settings
from core import tenancy
from staff import service as staff_service
from staff import totp
from staff.models import Role, StaffUser
from tsunagu.cli.support import load_settings, session_scope

staff_app = typer.Typer(help="Staff accounts of the console.", no_args_is_help=True)
console = Console()


def password_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/console/password/{token}"


def _print_link(settings: Settings, user: StaffUser, token: str) -> None:
    hours = settings.staff_password_link_hours
    console.print(f"one-time link to set the password of {user.email} (valid {hours} h):")
    console.print(password_link(settings, token), soft_wrap=True, markup=False, highlight=False)


@staff_app.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(help="The staff member's email (their sign-in).")],
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    role: Annotated[Role, typer.Option(help="What they may do in this shop.")],
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Limit them to this LINE channel's friends (repeatable)."),
    ] = None,
) -> None:
    """Give a staff member a role in a shop; a new account gets a one-time set-password link."""
    settings = load_settings()
    with session_scope() as session:
        user = staff_service.add_staff(
            session,
            email=email,
            shop=tenancy.get_shop(session, shop),
            role=role,
            channel_ids=channel or (),
        )
        console.print(f"{user.email} is {role.value} of shop {shop}")
        if user.password_hash is None:
            token = staff_service.issue_password_link(
                session, user=user, ttl=timedelta(hours=settings.staff_password_link_hours)
            )
            _print_link(settings, user, token)


@staff_app.command("list")
def staff_list(
    shop: Annotated[str | None, typer.Option(help="Only this shop's staff.")] = None,
) -> None:
    """List staff accounts and their roles (passwords are never shown)."""
    with session_scope() as session:
        table = Table("email", "shop", "role", "channels", "status")
        only = tenancy.get_shop(session, shop) if shop else None
        slugs = dict(session.execute(select(tenancy.Shop.id, tenancy.Shop.slug)).all())
        for user, role in staff_service.list_staff(session, shop=only):
            status = (
                "disabled"
                if user.disabled
                else "active"
                if user.password_hash
                else "password not set"
            )
            table.add_row(
                user.email,
                slugs[role.shop_id],
                role.role,
                ", ".join(role.channel_ids or []) or "all",
                status,
            )
        console.print(table)


@staff_app.command("disable")
def staff_disable(
    email: Annotated[str, typer.Argument(help="The staff member's email.")],
) -> None:
    """Refuse a staff member's sign-ins and end their open sessions at once."""
    with session_scope() as session:
        user = staff_service.disable_staff(session, email=email)
        console.print(f"{user.email} disabled; their sessions are ended")


@staff_app.command("reset-password")
def staff_reset_password(
    email: Annotated[str, typer.Argument(help="The staff member's email.")],
) -> None:
    """Print a one-time link to set a new password; earlier links stop working."""
    settings = load_settings()
    with session_scope() as session:
        user = staff_service.get_user(session, email)
        token = staff_service.issue_password_link(
            session, user=user, ttl=timedelta(hours=settings.staff_password_link_hours)
        )
        _print_link(settings, user, token)


@staff_app.command("reset-two-step")
def staff_reset_two_step(
    email: Annotated[str, typer.Argument(help="The staff member's email.")],
) -> None:
    """Turn a staff member's two-step sign-in off (authenticator and recovery codes both lost)
    and end their sessions; they sign in with the password alone and can enrol again."""
    with session_scope() as session:
        user = staff_service.get_user(session, email)
        totp.remove(session, user=user)
        staff_service.revoke_all_sessions(session, user=user)
        console.print(f"two-step sign-in of {user.email} is off; their sessions are ended")

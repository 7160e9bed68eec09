"""``tsunagu privacy …``: erase or export everything the hub holds on one person;
``tsunagu consent …``: a friend's consent per purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from core import tenancy
from messaging.outbox import consent
from messaging.outbox.consent import ConsentSource, Purpose
from privacy import datamap, erasure, export, people
from tsunagu.cli.support import err, session_scope

privacy_app = typer.Typer(help="A person's data: erase it, export it.", no_args_is_help=True)
console = Console()

FriendOption = Annotated[int | None, typer.Option("--friend", help="The friend's id.")]
MemberOption = Annotated[str | None, typer.Option("--member", help="The member's number.")]
ShopOption = Annotated[str, typer.Option(help="The shop's slug.")]


def _subject(
    session: Session, shop: str, friend: int | None, member: str | None
) -> tuple[int, str, int]:
    """(shop id, "friend" or "member", row id) from the options; exits 2 unless exactly one."""
    if (friend is None) == (member is None):
        err.print("[red]error:[/red] give exactly one of --friend ID or --member NUMBER")
        raise typer.Exit(2)
    shop_id = tenancy.get_shop(session, shop).id
    if friend is not None:
        return shop_id, "friend", friend
    found = people.member_by_number(session, shop_id=shop_id, member_number=member or "")
    return shop_id, "member", found.id


@privacy_app.command("erase")
def erase(
    shop: ShopOption,
    friend: FriendOption = None,
    member: MemberOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a person (a friend, or a member by number) from every table; counts stay."""
    if not yes:
        typer.confirm("Erase this person's data? It cannot be undone", abort=True)
    with session_scope() as session:
        shop_id, kind, row_id = _subject(session, shop, friend, member)
        if kind == "friend":
            counts = erasure.erase_friend(session, shop_id=shop_id, friend_id=row_id, actor="cli")
        else:
            counts = erasure.erase_member(session, shop_id=shop_id, member_id=row_id, actor="cli")
    console.print(f"erased {kind} {row_id}:")
    for name, count in counts.items():
        console.print(f"  {name}: {count}")


@privacy_app.command("export")
def export_person(
    shop: ShopOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="The zip archive to write.")],
    friend: FriendOption = None,
    member: MemberOption = None,
) -> None:
    """Write everything held on a person to a zip: person.json and one CSV per kind."""
    with session_scope() as session:
        shop_id, kind, row_id = _subject(session, shop, friend, member)
        if kind == "friend":
            archive = export.export_friend(session, shop_id=shop_id, friend_id=row_id, actor="cli")
        else:
            archive = export.export_member(session, shop_id=shop_id, member_id=row_id, actor="cli")
    output.write_bytes(archive)
    output.chmod(0o600)
    console.print(f"exported {kind} {row_id} to {output} ({len(archive)} bytes)")


@privacy_app.command("data-map")
def data_map() -> None:
    """Print the data map: every column holding personal data (docs/concepts/data-map.md)."""
    typer.echo(datamap.markdown_table())


consent_app = typer.Typer(help="A friend's consent per purpose.", no_args_is_help=True)


@consent_app.command("set")
def consent_set(
    shop: ShopOption,
    friend: Annotated[int, typer.Option("--friend", help="The friend's id.")],
    purpose: Annotated[Purpose, typer.Option(help="marketing or service.")],
    granted: Annotated[bool, typer.Option("--granted/--withdrawn", help="Given, or withdrawn.")],
    source: Annotated[
        ConsentSource, typer.Option(help="Where the friend gave it.")
    ] = ConsentSource.STAFF,
) -> None:
    """Record a consent given or withdrawn; a withdrawal suppresses pending sends of it."""
    with session_scope() as session:
        found = consent.friend_of(
            session, shop_id=tenancy.get_shop(session, shop).id, friend_id=friend
        )
        consent.record(
            session, friend=found, purpose=purpose, granted=granted, source=source, actor="cli"
        )
    console.print(f"friend {friend}: {purpose} {'granted' if granted else 'withdrawn'} ({source})")


@consent_app.command("show")
def consent_show(
    shop: ShopOption,
    friend: Annotated[int, typer.Option("--friend", help="The friend's id.")],
) -> None:
    """A friend's consent per purpose now, and every recorded change."""
    with session_scope() as session:
        found = consent.friend_of(
            session, shop_id=tenancy.get_shop(session, shop).id, friend_id=friend
        )
        now = consent.current(session, friend=found)
        history = consent.history(session, friend=found)
        for purpose, state in now.items():
            shown = "granted" if state["granted"] else "withdrawn"
            since = state["recorded_at"].isoformat() if state["recorded_at"] else "never recorded"
            console.print(f"{purpose}: {shown} ({since})")
        for entry in history:
            change = "granted" if entry.granted else "withdrawn"
            console.print(
                f"  {entry.recorded_at.isoformat()} {entry.purpose} {change} "
                f"from {entry.source} by {entry.recorded_by}"
            )

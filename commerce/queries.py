"""Reads of purchases, bookings and connections the admin API pages through."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from commerce.models import Booking, Connection, ConnectorState, Purchase
from idlink.queries import find_friend, linked_member_id

Record = TypeVar("Record", Purchase, Booking)


def _of_customer(
    session: Session,
    query: Select[Record],
    model: type[Purchase] | type[Booking],
    shop_id: int,
    member_id: int | None,
    friend_id: int | None,
) -> Select[Record] | None:
    """Filter to the shop, and to a member or a friend's linked member (None: nothing matches;
    an unknown friend raises FriendNotFound)."""
    query = query.where(model.shop_id == shop_id)
    if friend_id is not None:
        find_friend(session, shop_id, friend_id)
        linked = linked_member_id(session, friend_id)
        if linked is None or (member_id is not None and member_id != linked):
            return None
        member_id = linked
    if member_id is not None:
        query = query.where(model.member_id == member_id)
    return query


def purchase_query(
    session: Session, shop_id: int, *, member_id: int | None, friend_id: int | None
) -> Select[Purchase] | None:
    """The shop's purchases (with their lines), of a member or of a friend's linked member."""
    query = select(Purchase).options(selectinload(Purchase.items))
    return _of_customer(session, query, Purchase, shop_id, member_id, friend_id)


def booking_query(
    session: Session,
    shop_id: int,
    *,
    member_id: int | None,
    friend_id: int | None,
    status: str | None = None,
) -> Select[Booking] | None:
    """The shop's bookings, of a member or of a friend's linked member, in a status."""
    query = _of_customer(session, select(Booking), Booking, shop_id, member_id, friend_id)
    if query is not None and status is not None:
        query = query.where(Booking.status == status)
    return query


def connection_names(session: Session, ids: Collection[int]) -> dict[int, str]:
    """Connection id → its name."""
    rows = session.execute(select(Connection.id, Connection.name).where(Connection.id.in_(ids)))
    return {connection_id: name for connection_id, name in rows}


def shop_connections(session: Session, shop_id: int) -> list[Connection]:
    """The shop's connections, oldest first."""
    query = select(Connection).where(Connection.shop_id == shop_id).order_by(Connection.id)
    return list(session.scalars(query))


def stream_cursors(session: Session, connection_id: int) -> dict[str, str | None]:
    """Each stream's checkpoint of a connection."""
    states = session.scalars(
        select(ConnectorState).where(ConnectorState.connection_id == connection_id)
    )
    return {state.stream: state.cursor for state in states}

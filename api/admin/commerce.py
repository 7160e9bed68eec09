"""What the shop's other systems know of a customer: purchases and bookings, by member or by
LINE friend (through the friend's active link)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, Page
from api.deps import CurrentShop, DbSession
from commerce.models import Booking, Connection, Purchase
from core.errors import NotFound
from core.ids import RowId
from core.pagination import fetch_page
from idlink.models import Friend, MemberLink

router = APIRouter(tags=["purchases and bookings"])


class PurchaseItemOut(BaseModel):
    title: str
    quantity: int
    price: Decimal
    sku: str | None
    product_id: str | None


class PurchaseOut(BaseModel):
    id: int
    connection: str
    external_id: str
    name: str
    member_id: int | None
    currency: str
    total: Decimal
    refunded_total: Decimal
    financial_status: str | None
    discount_codes: list[str]
    ordered_at: datetime
    cancelled_at: datetime | None
    items: list[PurchaseItemOut]


class BookingOut(BaseModel):
    id: int
    connection: str
    external_id: str
    member_id: int | None
    status: str
    start_at: datetime
    end_at: datetime | None
    timezone: str
    service: str | None
    staff: str | None
    location: str | None
    superseded_by_id: int | None


class FriendNotFound(NotFound):
    """No friend with this id in the caller's shop."""


def _member_of_friend(session: Session, shop_id: int, friend_id: int) -> int | None:
    friend = session.get(Friend, friend_id)
    if friend is None or friend.shop_id != shop_id:
        raise FriendNotFound(f"no friend {friend_id} in this shop: GET /friends lists them")
    return session.scalar(
        select(MemberLink.member_id).where(
            MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None)
        )
    )


def _scope(
    session: Session,
    query: Select[Any],
    model: Any,
    shop_id: int,
    member_id: int | None,
    friend_id: int | None,
) -> Select[Any] | None:
    """Filter to the shop, and to a member or a friend's linked member (None: nothing matches)."""
    query = query.where(model.shop_id == shop_id)
    if friend_id is not None:
        linked = _member_of_friend(session, shop_id, friend_id)
        if linked is None or (member_id is not None and member_id != linked):
            return None
        member_id = linked
    if member_id is not None:
        query = query.where(model.member_id == member_id)
    return query


def _connection_names(session: Session, ids: set[int]) -> dict[int, str]:
    rows = session.execute(select(Connection.id, Connection.name).where(Connection.id.in_(ids)))
    return {connection_id: name for connection_id, name in rows}


MemberFilter = Annotated[RowId | None, Query(description="Only this member's.")]
FriendFilter = Annotated[
    RowId | None, Query(description="Only those of the member this LINE friend is linked to.")
]


def _purchase_out(purchase: Purchase, connection: str) -> PurchaseOut:
    fields = {
        k: getattr(purchase, k)
        for k in PurchaseOut.model_fields
        if k not in ("connection", "items")
    }
    return PurchaseOut.model_validate(
        fields
        | {
            "connection": connection,
            "items": [
                PurchaseItemOut.model_validate(i, from_attributes=True) for i in purchase.items
            ],
        }
    )


def _booking_out(booking: Booking, connection: str) -> BookingOut:
    fields = {k: getattr(booking, k) for k in BookingOut.model_fields if k != "connection"}
    return BookingOut.model_validate(fields | {"connection": connection})


@router.get(
    "/purchases",
    summary="List purchases (newest first)",
    responses={404: {"model": ErrorBody, "description": "Unknown friend"}},
)
def list_purchases(
    session: DbSession,
    shop: CurrentShop,
    member_id: MemberFilter = None,
    friend_id: FriendFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[PurchaseOut]:
    """Orders from the shop's stores, with their lines, attached to members."""
    query = _scope(
        session,
        select(Purchase).options(selectinload(Purchase.items)),
        Purchase,
        shop.id,
        member_id,
        friend_id,
    )
    if query is None:
        return Page(items=[], next_cursor=None)
    rows, next_cursor = fetch_page(session, query, Purchase.id, limit=limit, cursor=cursor)
    names = _connection_names(session, {p.connection_id for p in rows})
    items = [_purchase_out(p, names[p.connection_id]) for p in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/bookings",
    summary="List bookings (newest first)",
    responses={404: {"model": ErrorBody, "description": "Unknown friend"}},
)
def list_bookings(
    session: DbSession,
    shop: CurrentShop,
    member_id: MemberFilter = None,
    friend_id: FriendFilter = None,
    status: Annotated[str | None, Query(description="confirmed, cancelled, rescheduled, …")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[BookingOut]:
    """Reservations from reservation systems and the CRM, attached to members."""
    query = _scope(session, select(Booking), Booking, shop.id, member_id, friend_id)
    if query is None:
        return Page(items=[], next_cursor=None)
    if status is not None:
        query = query.where(Booking.status == status)
    rows, next_cursor = fetch_page(session, query, Booking.id, limit=limit, cursor=cursor)
    names = _connection_names(session, {b.connection_id for b in rows})
    items = [_booking_out(b, names[b.connection_id]) for b in rows]
    return Page(items=items, next_cursor=next_cursor)

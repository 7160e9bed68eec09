"""What the shop's other systems know of a customer: purchases and bookings, by member or by
LINE friend (through the friend's active link)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, Page
from api.deps import CurrentShop, DbSession
from commerce.models import Booking, Purchase
from commerce.queries import booking_query, connection_names, purchase_query
from core.ids import RowId
from core.pagination import fetch_page

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
    query = purchase_query(session, shop.id, member_id=member_id, friend_id=friend_id)
    if query is None:
        return Page(items=[], next_cursor=None)
    rows, next_cursor = fetch_page(session, query, Purchase.id, limit=limit, cursor=cursor)
    names = connection_names(session, {p.connection_id for p in rows})
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
    query = booking_query(session, shop.id, member_id=member_id, friend_id=friend_id, status=status)
    if query is None:
        return Page(items=[], next_cursor=None)
    rows, next_cursor = fetch_page(session, query, Booking.id, limit=limit, cursor=cursor)
    names = connection_names(session, {b.connection_id for b in rows})
    items = [_booking_out(b, names[b.connection_id]) for b in rows]
    return Page(items=items, next_cursor=next_cursor)

"""The customer chart's summary: what staff want at a glance before reading the timeline.

The member's purchases (count, total, the last one and its items), their bookings to come, the
rich menu the friend was last given, and their consent per purpose. Four small queries, each on
an index of the friend or member, whatever the history's length.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from commerce.models import Booking, Purchase, PurchaseItem
from connectors.records import BookingStatus
from core.clock import utcnow
from idlink.models import Friend
from messaging.outbox import consent
from messaging.rich_menus.models import FriendRichMenu

UPCOMING_SHOWN = 3
ITEMS_SHOWN = 5
# Bookings that will not happen are not "to come".
_NOT_COMING = (
    BookingStatus.CANCELLED,
    BookingStatus.REJECTED,
    BookingStatus.NO_SHOW,
    BookingStatus.RESCHEDULED,
)


class TotalOut(BaseModel):
    currency: str
    amount: Decimal = Field(
        description="Sum of the member's orders in this currency, refunds taken off."
    )


class ItemOut(BaseModel):
    title: str
    quantity: int


class LastPurchaseOut(BaseModel):
    name: str = Field(description="The order's name in the store, e.g. #1001.")
    ordered_at: datetime
    total: Decimal
    currency: str
    items: list[ItemOut] = Field(description=f"Its first {ITEMS_SHOWN} lines.")


class PurchasesOut(BaseModel):
    count: int = Field(description="Orders, cancelled ones and test orders left out.")
    totals: list[TotalOut]
    last: LastPurchaseOut | None


class BookingOut(BaseModel):
    start_at: datetime
    service: str | None
    staff: str | None
    location: str | None
    status: str


class ConsentOut(BaseModel):
    purpose: str = Field(description="marketing (campaigns) or service (reminders, replies).")
    granted: bool
    recorded_at: datetime | None = Field(description="null: never recorded, a follower's default.")
    source: str | None = Field(description="Where it was given or withdrawn: liff, keyword, staff…")


class ChartSummary(BaseModel):
    purchases: PurchasesOut
    upcoming_bookings: list[BookingOut] = Field(description=f"The next {UPCOMING_SHOWN}.")
    rich_menu: str | None = Field(
        description="The LINE rich menu id last given to the friend; null: the channel's default."
    )
    consent: list[ConsentOut]


def summarize(
    session: Session, friend: Friend, member_id: int | None, *, now: datetime | None = None
) -> ChartSummary:
    """The summary of ``friend`` (and of ``member_id``, the member they are linked to)."""
    return ChartSummary(
        purchases=_purchases(session, member_id),
        upcoming_bookings=_upcoming(session, member_id, now or utcnow()),
        rich_menu=session.scalar(
            select(FriendRichMenu.rich_menu_id).where(FriendRichMenu.friend_id == friend.id)
        ),
        consent=[
            ConsentOut(purpose=purpose, **state)
            for purpose, state in consent.current(session, friend=friend).items()
        ],
    )


def _counted(member_id: int) -> ColumnElement[bool]:
    return and_(
        Purchase.member_id == member_id,
        Purchase.cancelled_at.is_(None),
        Purchase.test.is_(False),
    )


def _purchases(session: Session, member_id: int | None) -> PurchasesOut:
    if member_id is None:
        return PurchasesOut(count=0, totals=[], last=None)
    rows = session.execute(
        select(
            Purchase.currency,
            func.count(),
            func.sum(Purchase.total - Purchase.refunded_total),
        )
        .where(_counted(member_id))
        .group_by(Purchase.currency)
        .order_by(Purchase.currency)
    ).all()
    last = session.scalars(
        select(Purchase).where(_counted(member_id)).order_by(Purchase.ordered_at.desc()).limit(1)
    ).first()
    return PurchasesOut(
        count=sum(count for _currency, count, _total in rows),
        totals=[TotalOut(currency=c, amount=Decimal(total or 0)) for c, _n, total in rows],
        last=_last(session, last) if last is not None else None,
    )


def _last(session: Session, purchase: Purchase) -> LastPurchaseOut:
    items = session.execute(
        select(PurchaseItem.title, PurchaseItem.quantity)
        .where(PurchaseItem.purchase_id == purchase.id)
        .order_by(PurchaseItem.id)
        .limit(ITEMS_SHOWN)
    ).all()
    return LastPurchaseOut(
        name=purchase.name,
        ordered_at=purchase.ordered_at,
        total=purchase.total,
        currency=purchase.currency,
        items=[ItemOut(title=title, quantity=quantity) for title, quantity in items],
    )


def _upcoming(session: Session, member_id: int | None, now: datetime) -> list[BookingOut]:
    if member_id is None:
        return []
    bookings = session.scalars(
        select(Booking)
        .where(
            Booking.member_id == member_id,
            Booking.start_at >= now,
            Booking.superseded_by_id.is_(None),
            Booking.status.not_in(_NOT_COMING),
        )
        .order_by(Booking.start_at)
        .limit(UPCOMING_SHOWN)
    )
    return [
        BookingOut(
            start_at=b.start_at,
            service=b.service,
            staff=b.staff,
            location=b.location,
            status=b.status,
        )
        for b in bookings
    ]

"""The customer chart (顧客カルテ): what the hub knows of one friend, their notes, and their
timeline.

The timeline merges, newest first, the friend's messages, the deliveries made to them (with
their source and state), the purchases and bookings of the member they are linked to, and the
staff changes recorded about them in the audit log, and their tag history (who or what put
each tag on or took it off). Its cursor is the last entry's
(time, kind, id), so pages neither repeat nor skip entries that share a time.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from commerce.models import Booking, Purchase
from core.audit import AuditLog
from core.clock import as_utc
from core.enqueue import enqueue_after_commit
from core.pagination import InvalidCursor
from crm import fields, notes, owners
from crm.field_schemas import FriendFieldOut
from crm.notes import NoteOut
from idlink import profiles
from idlink.media import queries as media_queries
from idlink.media.queries import MediaOut
from idlink.models import (
    ConversationMessage,
    Friend,
    FriendFollowEvent,
    FriendTagEvent,
    Member,
    MemberLink,
)
from idlink.queries import find_friend, render_friends
from idlink.schemas import FriendOut
from messaging import chart_summary
from messaging.chart_summary import ChartSummary
from messaging.compose.models import LinkClick, TrackedLink
from messaging.outbox.models import Delivery, DeliveryContent

EntryKind = Literal[
    "message",
    "delivery",
    "purchase",
    "booking",
    "change",
    "tag",
    "link",
    "unlink",
    "click",
    "follow",
]
# Among entries at the same time, the order they are listed in (and the cursor compares).
_RANK: dict[str, int] = {
    "follow": 9,
    "unlink": 8,
    "link": 7,
    "click": 6,
    "tag": 5,
    "change": 4,
    "message": 3,
    "delivery": 2,
    "purchase": 1,
    "booking": 0,
}


TAG_ACTIONS = ("friend.tag_added", "friend.tag_removed")


class ChartMember(BaseModel):
    """The member the friend is linked to; ``name`` only for the roles allowed to read it."""

    member_id: int
    member_number: str
    name: str | None
    linked_at: datetime
    method: str


class TimelineEntry(BaseModel):
    kind: EntryKind
    id: int
    at: datetime
    text: str | None = Field(description="The message, the delivery's first text, the order…")
    direction: Literal["in", "out"] | None = None
    source: str | None = Field(None, description="What made a delivery: campaign:…, reminder:…")
    state: str | None = Field(None, description="A delivery's or booking's state.")
    actor: str | None = Field(
        None,
        description="Who or what made a change: staff:<email>, token:<name>; for a tag also "
        "click:<source>, idlink:<method>, import:<file>, rule:<name>, cli.",
    )
    action: str | None = Field(None, description="A change's audit action: friend.tag_added, …")
    detail: dict[str, Any] | None = Field(None, description="A change's audit detail.")
    media: MediaOut | None = Field(
        None, description="A message's image, video, audio or file, and what became of it."
    )


class Timeline(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None


class FriendChart(BaseModel):
    """One friend on one page: profile, follow dates, link and member, tags, and the timeline."""

    friend: FriendOut
    member: ChartMember | None
    owner: str | None = Field(description="The email of the staff member in charge (担当者).")
    notes: list[NoteOut] = Field(description="Pinned first, then newest first.")
    fields: list[FriendFieldOut] = Field(
        default_factory=list, description="Every custom field of the shop, with its value."
    )
    summary: ChartSummary = Field(
        description="Purchases, bookings to come, rich menu and consent, at a glance."
    )
    timeline: Timeline


def friend_chart(
    session: Session,
    shop_id: int,
    friend_id: int,
    *,
    include_personal: bool,
    channel_scope: list[str] | None = None,
    limit: int = 30,
    cursor: str | None = None,
) -> FriendChart:
    """The friend's chart; ``include_personal`` adds the member's name. A stale LINE profile
    is fetched again in the background."""
    friend = find_friend(session, shop_id, friend_id, channel_scope=channel_scope)
    if profiles.is_stale(friend):
        enqueue_after_commit(session, "idlink.refresh_profile", friend_id=friend.id)
    found = session.execute(
        select(MemberLink, Member)
        .join(Member, Member.id == MemberLink.member_id)
        .where(MemberLink.friend_id == friend.id, MemberLink.unlinked_at.is_(None))
    ).one_or_none()
    member = None
    if found is not None:
        link, linked = found
        member = ChartMember(
            member_id=linked.id,
            member_number=linked.member_number,
            name=linked.name if include_personal else None,
            linked_at=link.linked_at,
            method=link.method,
        )
    return FriendChart(
        friend=render_friends(session, shop_id, [friend])[0],
        member=member,
        owner=owners.owner_of(session, friend),
        notes=notes.notes_of(session, friend),
        fields=[found.out() for found in fields.fields_of(session, shop_id, friend.id)],
        summary=chart_summary.summarize(session, friend, member.member_id if member else None),
        timeline=timeline(
            session,
            friend,
            member_id=member.member_id if member else None,
            limit=limit,
            cursor=cursor,
        ),
    )


def timeline(
    session: Session,
    friend: Friend,
    *,
    member_id: int | None,
    limit: int,
    cursor: str | None,
) -> Timeline:
    """One page of the friend's timeline, newest first."""
    after = _decode(cursor) if cursor else None
    entries: list[TimelineEntry] = []

    def page(kind: str, query: Select[*tuple[Any, ...]], at: Any, id_column: Any) -> list[Any]:
        if after is not None:
            query = query.where(_before(after, kind, at, id_column))
        return list(session.execute(query.order_by(at.desc(), id_column.desc()).limit(limit + 1)))

    messages = [
        row
        for (row,) in page(
            "message",
            select(ConversationMessage).where(ConversationMessage.friend_id == friend.id),
            ConversationMessage.occurred_at,
            ConversationMessage.id,
        )
    ]
    media = media_queries.of_messages(session, [row.id for row in messages])
    for row in messages:
        entries.append(
            TimelineEntry(
                kind="message",
                id=row.id,
                at=row.occurred_at,
                text=row.text or f"({row.message_type})",
                direction="in" if row.direction == "in" else "out",
                media=media.get(row.id),
            )
        )
    for delivery, payload in page(
        "delivery",
        select(Delivery, DeliveryContent.payload)
        .join(DeliveryContent, DeliveryContent.content_hash == Delivery.content_hash)
        .where(Delivery.friend_id == friend.id, Delivery.shop_id == friend.shop_id),
        Delivery.created_at,
        Delivery.id,
    ):
        entries.append(
            TimelineEntry(
                kind="delivery",
                id=delivery.id,
                at=delivery.created_at,
                text=_first_text(payload),
                direction="out",
                source=delivery.source,
                state=delivery.state,
            )
        )
    if member_id is not None:
        for (purchase,) in page(
            "purchase",
            select(Purchase)
            .options(selectinload(Purchase.items))
            .where(Purchase.member_id == member_id, Purchase.shop_id == friend.shop_id),
            Purchase.ordered_at,
            Purchase.id,
        ):
            entries.append(
                TimelineEntry(
                    kind="purchase",
                    id=purchase.id,
                    at=purchase.ordered_at,
                    text=_describe_purchase(purchase),
                    state=purchase.financial_status,
                )
            )
        for (booking,) in page(
            "booking",
            select(Booking).where(
                Booking.member_id == member_id, Booking.shop_id == friend.shop_id
            ),
            Booking.start_at,
            Booking.id,
        ):
            entries.append(
                TimelineEntry(
                    kind="booking",
                    id=booking.id,
                    at=booking.start_at,
                    text=" · ".join(x for x in (booking.service, booking.location) if x) or None,
                    state=booking.status,
                )
            )
    for (event,) in page(
        "tag",
        select(FriendTagEvent).where(FriendTagEvent.friend_id == friend.id),
        FriendTagEvent.at,
        FriendTagEvent.id,
    ):
        entries.append(
            TimelineEntry(
                kind="tag",
                id=event.id,
                at=event.at,
                text=f"{'+' if event.added else '-'}{event.tag_name}",
                actor=event.source,
                action="friend.tag_added" if event.added else "friend.tag_removed",
                detail={"tag": event.tag_name},
            )
        )
    for (event,) in page(
        "follow",
        select(FriendFollowEvent).where(FriendFollowEvent.friend_id == friend.id),
        FriendFollowEvent.at,
        FriendFollowEvent.id,
    ):
        entries.append(
            TimelineEntry(kind="follow", id=event.id, at=event.at, text=None, action=event.kind)
        )
    # A member link made, and (once ended) its ending: one row, two moments on the timeline.
    links = (
        select(MemberLink, Member.member_number)
        .join(Member, Member.id == MemberLink.member_id)
        .where(MemberLink.friend_id == friend.id)
    )
    for kind, query, at in (
        ("link", links, MemberLink.linked_at),
        ("unlink", links.where(MemberLink.unlinked_at.is_not(None)), MemberLink.unlinked_at),
    ):
        for link, number in page(kind, query, at, MemberLink.id):
            made = kind == "link"
            entries.append(
                TimelineEntry(
                    kind=kind,
                    id=link.id,
                    at=link.linked_at if made else link.unlinked_at,
                    text=number,
                    actor=link.linked_by if made else link.unlinked_by,
                    detail={"member_number": number}
                    | ({"method": link.method} if made else {"reason": link.unlink_reason}),
                )
            )
    for click, url, source in page(
        "click",
        select(LinkClick, TrackedLink.url, TrackedLink.source)
        .join(TrackedLink, TrackedLink.code == LinkClick.code)
        .where(TrackedLink.friend_id == friend.id),
        LinkClick.clicked_at,
        LinkClick.id,
    ):
        entries.append(
            TimelineEntry(kind="click", id=click.id, at=click.clicked_at, text=url, source=source)
        )
    for (change,) in page(
        "change",
        select(AuditLog).where(
            AuditLog.shop_id == friend.shop_id,
            AuditLog.subject_type == "friend",
            AuditLog.subject_id == str(friend.id),
            # The tag history lists these, and the changes no one audits (clicks, links…).
            AuditLog.action.not_in(TAG_ACTIONS),
        ),
        AuditLog.created_at,
        AuditLog.id,
    ):
        entries.append(
            TimelineEntry(
                kind="change",
                id=change.id,
                at=change.created_at,
                text=_describe(change),
                actor=change.actor,
                action=change.action,
                detail={k: v for k, v in change.detail.items() if k != "ip"},
            )
        )
    entries.sort(key=lambda e: (as_utc(e.at), _RANK[e.kind], e.id), reverse=True)
    if len(entries) <= limit:
        return Timeline(items=entries, next_cursor=None)
    shown = entries[:limit]
    return Timeline(items=shown, next_cursor=_encode(shown[-1]))


def _before(
    after: tuple[datetime, int, int],
    kind: str,
    at: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
) -> ColumnElement[bool]:
    """Rows of one kind that come after the cursor in (time, rank, id) descending order."""
    cursor_at, cursor_rank, cursor_id = after
    rank = _RANK[kind]
    if rank < cursor_rank:
        return at <= cursor_at
    if rank > cursor_rank:
        return at < cursor_at
    return or_(at < cursor_at, and_(at == cursor_at, id_column < cursor_id))


def _encode(entry: TimelineEntry) -> str:
    raw = json.dumps([as_utc(entry.at).isoformat(), _RANK[entry.kind], entry.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, rank, entry_id = json.loads(raw)
        return as_utc(datetime.fromisoformat(at)), int(rank), int(entry_id)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidCursor(
            "cursor is not one this API returned: omit it to start from the first page"
        ) from exc


def _describe_purchase(purchase: Purchase) -> str:
    """``#1001 5,500 JPY · シャンプー 300ml x 1``: the order, its total, and its lines."""
    lines = ", ".join(f"{item.title} x {item.quantity}" for item in purchase.items)
    summary = f"{purchase.name} {purchase.total:,.0f} {purchase.currency}"
    return f"{summary} · {lines}" if lines else summary


def _first_text(payload: list[dict[str, Any]]) -> str | None:
    for message in payload:
        text = message.get("text") or message.get("altText")
        if text:
            return str(text)
    return f"({payload[0].get('type')})" if payload else None


def _describe(change: AuditLog) -> str:
    """An audit record as one line: its action and the detail's values."""
    values = ", ".join(f"{k}={v}" for k, v in sorted(change.detail.items()) if k != "ip")
    return f"{change.action} {values}".strip()

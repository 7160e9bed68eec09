"""Helpers for the segment and sequence tests: members, links, tags, purchases and bookings as
rows, and the messages each sandbox user received."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from commerce.models import Booking, Connection, Purchase, PurchaseItem
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink import friends
from idlink.models import Friend, FriendStatus, Member, MemberLink
from messaging.outbox.models import Delivery, DeliveryState
from sandbox.line.state import SandboxState
from tests.factories import ChannelSetup
from tests.waiting import wait_for


def set_friend(database: Database, friend_id: int, **values: Any) -> None:
    """Change columns of a friend row (status, follow route, follow time …)."""
    with database.session_scope() as session:
        session.execute(update(Friend).where(Friend.id == friend_id).values(**values))


def tag(database: Database, friend_id: int, name: str) -> None:
    with database.session_scope() as session:
        friends.add_tag(
            session, friend=session.get_one(Friend, friend_id), name=name, source="test"
        )


def untag(database: Database, friend_id: int, name: str) -> None:
    with database.session_scope() as session:
        friends.remove_tag(
            session, friend=session.get_one(Friend, friend_id), name=name, source="test"
        )


def link_member(
    database: Database,
    channel: ChannelSetup,
    friend_id: int,
    *,
    attributes: dict[str, Any] | None = None,
    linked_at: datetime | None = None,
) -> int:
    """A new member with ``attributes``, linked to the friend; returns the member id."""
    with database.session_scope() as session:
        member = Member(
            shop_id=channel.shop_id,
            member_number=f"M{secrets.token_hex(6)}",
            attributes=attributes or {},
        )
        session.add(member)
        session.flush()
        session.add(
            MemberLink(
                shop_id=channel.shop_id,
                provider_id=session.get_one(Channel, channel.channel_pk).provider_id,
                friend_id=friend_id,
                member_id=member.id,
                method="staff",
                linked_at=linked_at or utcnow(),
                linked_by="test",
            )
        )
        return member.id


def unlink(database: Database, friend_id: int, *, at: datetime | None = None) -> None:
    with database.session_scope() as session:
        session.execute(
            update(MemberLink)
            .where(MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None))
            .values(unlinked_at=at or utcnow(), unlinked_by="test")
        )


def store(database: Database, shop_id: int) -> int:
    """The shop's store connection (created on first use)."""
    with database.session_scope() as session:
        found = session.scalar(select(Connection.id).where(Connection.shop_id == shop_id))
        if found is not None:
            return found
        connection = Connection(
            shop_id=shop_id,
            kind="shopify",
            name="store",
            credentials=json.dumps({"access_token": "shpat_test"}),
            options={},
            last_sync_started_at=utcnow(),
            sync_interval_seconds=86_400,
        )
        session.add(connection)
        session.flush()
        return connection.id


def purchase(
    database: Database,
    shop_id: int,
    member_id: int,
    *,
    total: int,
    ordered_at: datetime,
    items: Sequence[tuple[str, str]] = (),
    cancelled: bool = False,
) -> None:
    """An order of the member with lines of (product id, sku)."""
    connection_id = store(database, shop_id)
    with database.session_scope() as session:
        order = Purchase(
            shop_id=shop_id,
            connection_id=connection_id,
            external_id=secrets.token_hex(8),
            name="#1001",
            member_id=member_id,
            currency="JPY",
            total=Decimal(total),
            ordered_at=ordered_at,
            source_updated_at=ordered_at,
            cancelled_at=ordered_at if cancelled else None,
        )
        order.items = [
            PurchaseItem(
                external_id=secrets.token_hex(4),
                title="item",
                quantity=1,
                price=Decimal(total),
                product_id=product_id,
                sku=sku,
            )
            for product_id, sku in items
        ]
        session.add(order)


def booking(
    database: Database,
    shop_id: int,
    member_id: int,
    *,
    start_at: datetime,
    service: str,
    status: str = "confirmed",
) -> None:
    connection_id = store(database, shop_id)
    with database.session_scope() as session:
        session.add(
            Booking(
                shop_id=shop_id,
                connection_id=connection_id,
                external_id=secrets.token_hex(8),
                member_id=member_id,
                status=status,
                start_at=start_at,
                timezone="Asia/Tokyo",
                service=service,
                source_updated_at=start_at,
            )
        )


def texts_received(sandbox: SandboxState, channel: ChannelSetup, user_id: str) -> list[str]:
    """The texts a sandbox user received from the channel, in order."""
    with sandbox.lock:
        return [
            m.message.get("text", "")
            for m in sandbox.received
            if m.channel_id == channel.channel_id and m.user_id == user_id
        ]


def wait_until_recorded_sent(database: Database, friend_id: int, count: int = 1) -> None:
    """Wait until the hub recorded ``count`` of the friend's deliveries as sent.

    A message on the phone is not yet the hub's state: the dispatcher records answers a group at
    a time, up to a second after LINE took them.
    """

    def recorded() -> int:
        with database.session_scope() as session:
            return session.execute(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.friend_id == friend_id, Delivery.state == DeliveryState.SENT)
            ).scalar_one()

    wait_for(lambda: recorded() >= count, what=f"{count} sent deliveries recorded for {friend_id}")


def blocked(database: Database, friend_id: int) -> bool:
    with database.session_scope() as session:
        return session.get_one(Friend, friend_id).status == FriendStatus.BLOCKED

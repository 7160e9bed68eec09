"""Helpers for the trigger and reminder tests: linked friends, purchases and bookings written
through the commerce service, campaigns and rules saved through theirs, and what the phone got."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from commerce import service as commerce_service
from commerce.connections import create_connection
from commerce.models import Booking, Connection, Purchase
from connectors.records import (
    BookingRecord,
    BookingStatus,
    Contact,
    PurchaseItemRecord,
    PurchaseRecord,
)
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, Shop
from idlink import members
from idlink import service as idlink_service
from idlink.models import Friend, LinkMethod, Member
from messaging.campaigns import campaigns, triggers
from messaging.campaigns.models import Campaign, CampaignStatus
from messaging.campaigns.schemas import CampaignSpec
from messaging.compose.models import TriggerCursor
from messaging.outbox.models import Delivery
from messaging.reminders import reminders
from messaging.reminders.models import ReminderRule
from messaging.reminders.schemas import ReminderRuleSpec
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers
from tests.waiting import wait_for

NEVER = 10**9


@dataclass(frozen=True, slots=True)
class Customer:
    """A member linked to a friend who follows the channel in the sandbox."""

    member_id: int
    member_number: str
    friend_id: int
    user_id: str


def linked_customer(
    db: Database, sandbox: SandboxServer, channel: ChannelSetup, number: str, **fields: Any
) -> Customer:
    friend_id, user_id = next(iter(add_followers(db, sandbox.state, channel, 1).items()))
    with db.session_scope() as session:
        member = members.create_member(
            session,
            shop_id=channel.shop_id,
            member_number=number,
            fields=members.MemberFields(**fields),
            actor="test",
        )
        idlink_service.link_member(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            friend=session.get_one(Friend, friend_id),
            member=member,
            method=LinkMethod.STAFF,
            actor="test",
            now=utcnow(),
        )
        member_id = member.id
    return Customer(member_id, members.normalize_member_number(number), friend_id, user_id)


def add_connection(db: Database, shop_id: int, kind: str = "reservations") -> int:
    with db.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop_id),
            kind=kind,
            name=f"{kind}-{secrets.token_hex(3)}",
            credentials={"secret": secrets.token_hex(8), "access_token": "x"},
            sync_interval_seconds=NEVER,
        )
        # The hub's scheduler must not sync behind the test's back.
        connection.last_sync_started_at = utcnow()
        session.flush()
        return connection.id


def record_purchase(
    db: Database,
    connection_id: int,
    customer: Customer | None,
    order_id: str,
    *,
    ordered_at: datetime | None = None,
    total: str = "3000",
    sku: str = "SKU-1",
    product_id: str = "100",
    cancelled_at: datetime | None = None,
    refunded_total: str = "0",
    version: datetime | None = None,
) -> Purchase:
    """Write an order (a new one or a newer version) the way connectors do."""
    ordered_at = ordered_at or utcnow()
    record = PurchaseRecord(
        external_id=order_id,
        name=f"#{order_id}",
        created_at=ordered_at,
        updated_at=version or utcnow(),
        currency="JPY",
        total=Decimal(total),
        contact=Contact(member_number=customer.member_number if customer else None),
        cancelled_at=cancelled_at,
        refunded_total=Decimal(refunded_total),
        items=(PurchaseItemRecord(f"{order_id}-1", "Tart", 1, Decimal(total), sku, product_id),),
    )
    with db.session_scope() as session:
        connection = session.get_one(Connection, connection_id)
        commerce_service.upsert_purchase(session, connection=connection, record=record)
        return session.scalars(
            select(Purchase).where(
                Purchase.connection_id == connection_id, Purchase.external_id == order_id
            )
        ).one()


def record_booking(
    db: Database,
    connection_id: int,
    customer: Customer,
    booking_id: str,
    *,
    start_at: datetime,
    status: BookingStatus = BookingStatus.CONFIRMED,
    version: int = 1,
    previous_id: str | None = None,
) -> Booking:
    record = BookingRecord(
        external_id=booking_id,
        status=status,
        start_at=start_at,
        end_at=None,
        updated_at=utcnow(),
        contact=Contact(member_number=customer.member_number),
        service="Cut",
        location="Shibuya",
        version=version,
        previous_external_id=previous_id,
    )
    with db.session_scope() as session:
        connection = session.get_one(Connection, connection_id)
        commerce_service.upsert_booking(session, connection=connection, record=record)
        return session.scalars(
            select(Booking).where(
                Booking.connection_id == connection_id, Booking.external_id == booking_id
            )
        ).one()


def start_campaign(db: Database, channel: ChannelSetup, **spec: Any) -> Campaign:
    """Save a campaign from a spec and activate it."""
    with db.session_scope() as session:
        campaign = campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=CampaignSpec(channel=channel.channel_id, **spec),
            actor="test",
        )
        return campaigns.set_status(
            session, campaign=campaign, status=CampaignStatus.ACTIVE, actor="test"
        )


def pause_campaign(db: Database, campaign_id: int) -> None:
    with db.session_scope() as session:
        campaign = session.get_one(Campaign, campaign_id)
        campaigns.set_status(session, campaign=campaign, status=CampaignStatus.PAUSED, actor="test")


def save_rule(db: Database, channel: ChannelSetup, **spec: Any) -> ReminderRule:
    with db.session_scope() as session:
        return reminders.save_rule(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=ReminderRuleSpec(channel=channel.channel_id, **spec),
            actor="test",
        )


def run_triggers(db: Database, public_url: str, now: datetime | None = None) -> None:
    with db.session_scope() as session:
        triggers.run(session, public_url=public_url, now=now)


def wait_until_read(db: Database, name: str, written_at: datetime) -> None:
    """The trigger's cursor (``campaign:{id}``, ``reminder:{rule}``) has read past a write."""

    def read() -> bool:
        with db.session_scope() as session:
            cursor = session.get(TriggerCursor, name)
            return (
                cursor is not None
                and cursor.position is not None
                and (cursor.position >= written_at)
            )

    wait_for(read, timeout=20, what=f"{name} to read the write of {written_at}")


def deliveries_of(db: Database, source_prefix: str) -> list[Delivery]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(Delivery)
                .where(Delivery.source.startswith(source_prefix))
                .order_by(Delivery.id)
            )
        )


def texts(sandbox: SandboxServer, channel: ChannelSetup, customer: Customer) -> list[str]:
    """The texts the customer's phone received from the channel."""
    inbox = sandbox.state.inbox(customer.user_id, channel_id=channel.channel_id)
    return [m.message.get("text", "") for m in inbox]


def wait_for_texts(
    sandbox: SandboxServer, channel: ChannelSetup, customer: Customer, count: int
) -> list[str]:
    return wait_for(
        lambda: found if len(found := texts(sandbox, channel, customer)) >= count else None,
        timeout=20,
        what=f"{count} message(s) on {customer.user_id}'s phone",
    )


def birth_month_day(db: Database, member_id: int) -> str | None:
    with db.session_scope() as session:
        return session.get_one(Member, member_id).birth_month_day

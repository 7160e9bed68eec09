"""Visit reminders: planned for a linked friend's booking, moved by a reschedule, cancelled by a
cancel, sent at once or skipped inside the window, naming time, service and store."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from connectors.records import BookingStatus
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, Shop
from messaging.outbox.models import DeliveryState
from messaging.reminders import reminders
from sandbox.line.server import SandboxServer
from sandbox.reservations.sender import WebhookSender
from sandbox.reservations.systems import Customer as BookingCustomer
from sandbox.reservations.systems import ReservationSystem
from tests.connectors.reservations.conftest import add_connection as add_endpoint
from tests.factories import ChannelSetup
from tests.messaging.commerce_support import (
    add_connection,
    deliveries_of,
    linked_customer,
    record_booking,
    save_rule,
    texts,
    wait_for_texts,
    wait_until_read,
)
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

TEXT = [
    {
        "type": "text",
        "text": "{{ booking_date }} {{ booking_time }} {{ booking_service }} @ {{ booking_store }}",
    }
]


@pytest.fixture
def salon_id(db: Database, channel: ChannelSetup) -> int:
    open_all_hours(db, channel)
    return add_connection(db, channel.shop_id)


def reconcile(db: Database, hub: Hub) -> reminders.ReminderRun:
    with db.session_scope() as session:
        return reminders.reconcile(session, public_url=hub.settings.public_url)


def pending(db: Database) -> list[tuple[str, object]]:
    return sorted(
        (d.idempotency_key, d.due_at)
        for d in deliveries_of(db, "reminder:")
        if d.state == DeliveryState.PENDING
    )


def wait_for_pending(db: Database, hub: Hub, expected: object) -> None:
    """Reconcile now; the hub's own worker may be the one that does it (the rule's cursor is
    held by one worker at a time), so wait for the outcome rather than for this call."""
    reconcile(db, hub)
    wait_for(lambda: check(expected, pending(db)), what=f"pending reminders {expected}")


def check(expected: object, found: list[tuple[str, object]]) -> bool:
    return expected(found) if callable(expected) else found == expected


def test_24h_and_2h_reminders_are_planned_and_moved_by_a_reschedule(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, salon_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-1")
    day = save_rule(db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT)
    soon = save_rule(db, channel, name="2 hours", offset_minutes=120, messages=TEXT)
    start = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    booking = record_booking(db, salon_id, hanako, "bk-1", start_at=start)

    stamp = start.strftime("%Y%m%dT%H%MZ")
    wait_for_pending(
        db,
        hub,
        sorted(
            [
                (f"reminder:{booking.id}:{day.id}:{stamp}:r1", start - timedelta(hours=24)),
                (f"reminder:{booking.id}:{soon.id}:{stamp}:r1", start - timedelta(hours=2)),
            ]
        ),
    )

    moved = start + timedelta(days=1)
    record_booking(db, salon_id, hanako, "bk-1", start_at=moved, version=2)

    wanted = sorted([moved - timedelta(hours=24), moved - timedelta(hours=2)])
    wait_for_pending(db, hub, lambda found: sorted(due for _key, due in found) == wanted)
    cancelled = [d for d in deliveries_of(db, "reminder:") if d.state == DeliveryState.CANCELLED]
    assert {d.reason for d in cancelled} == {"the booking moved"}
    assert len(cancelled) == 2
    assert texts(line_sandbox, channel, hanako) == []


def test_a_booking_moved_away_and_back_gets_its_reminder_again(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, salon_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-9")
    rule = save_rule(db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT)
    start = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    booking = record_booking(db, salon_id, hanako, "bk-9", start_at=start)
    wait_for_pending(db, hub, lambda found: len(found) == 1)
    record_booking(db, salon_id, hanako, "bk-9", start_at=start + timedelta(days=1), version=2)
    wait_for_pending(db, hub, lambda found: [d for _k, d in found] == [start])

    record_booking(db, salon_id, hanako, "bk-9", start_at=start, version=3)

    key = f"reminder:{booking.id}:{rule.id}:{start.strftime('%Y%m%dT%H%MZ')}:r1"
    wait_for_pending(db, hub, [(f"{key}:again1", start - timedelta(hours=24))])
    cancelled = [d for d in deliveries_of(db, "reminder:") if d.state == DeliveryState.CANCELLED]
    assert len(cancelled) == 2  # the first start's, then the other start's


def test_a_cancel_and_a_reschedule_to_a_new_id_cancel_the_old_reminders(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, salon_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-2")
    save_rule(db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT)
    start = utcnow() + timedelta(days=3)
    record_booking(db, salon_id, hanako, "bk-2", start_at=start)
    record_booking(db, salon_id, hanako, "bk-3", start_at=start)
    wait_for_pending(db, hub, lambda found: len(found) == 2)

    record_booking(
        db, salon_id, hanako, "bk-2", start_at=start, version=2, status=BookingStatus.CANCELLED
    )
    new = record_booking(
        db, salon_id, hanako, "bk-4", start_at=start + timedelta(days=2), previous_id="bk-3"
    )

    wait_for_pending(db, hub, lambda found: [k.split(":")[1] for k, _d in found] == [str(new.id)])
    reasons = sorted(
        str(d.reason) for d in deliveries_of(db, "reminder:") if d.state == "cancelled"
    )
    assert reasons == ["the booking is cancelled", "the booking is rescheduled"]


def test_inside_the_window_a_rule_sends_at_once_or_skips(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, salon_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-3")
    save_rule(db, channel, name="2 hours", offset_minutes=120, messages=TEXT)
    skipper = save_rule(
        db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT, inside_window="skip"
    )
    with db.session_scope() as session:
        # A channel far from the booking system's zone: the text must follow the channel.
        session.execute(
            update(Channel)
            .where(Channel.id == channel.channel_pk)
            .values(timezone="America/New_York")
        )
    start = (utcnow() + timedelta(hours=1)).replace(second=0, microsecond=0)
    booking = record_booking(db, salon_id, hanako, "bk-5", start_at=start)

    reconcile(db, hub)

    (text,) = wait_for_texts(line_sandbox, channel, hanako, 1)
    wait_until_read(db, f"reminder:{skipper.id}", booking.updated_at)
    local = start.astimezone(ZoneInfo("America/New_York"))
    assert f"{local.month}月{local.day}日" in text
    assert f" {local:%H:%M} Cut @ Shibuya" in text
    assert deliveries_of(db, f"reminder:{skipper.id}:") == []


def test_a_rule_change_replans_future_reminders(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, salon_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-4")
    save_rule(db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT)
    start = utcnow() + timedelta(days=3)
    record_booking(db, salon_id, hanako, "bk-6", start_at=start)
    wait_for_pending(db, hub, lambda found: len(found) == 1)

    save_rule(db, channel, name="day before", offset_minutes=48 * 60, messages=TEXT)

    wait_for_pending(
        db,
        hub,
        lambda found: [(k[-3:], due) for k, due in found] == [(":r2", start - timedelta(hours=48))],
    )


def test_a_signed_reservation_webhook_plans_the_reminder(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "R-5", email="hanako@example.jp")
    rule = save_rule(db, channel, name="day before", offset_minutes=24 * 60, messages=TEXT)
    with db.session_scope() as session:
        shop = session.get_one(Shop, channel.shop_id)
    endpoint = add_endpoint(
        db, shop, hub.settings.public_url, kind="reservations", credentials={"secret": "s3cret"}
    )
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    event = ReservationSystem().book(
        BookingCustomer("c1", name="Hanako", email="hanako@example.jp"), start=start.isoformat()
    )

    sender = WebhookSender()
    try:
        assert sender.send_v1(endpoint.url, event, secrets=endpoint.secrets).status == 200
    finally:
        sender.close()

    (delivery,) = wait_for(
        lambda: deliveries_of(db, f"reminder:{rule.id}:"), what="the reminder planned"
    )
    assert delivery.friend_id == hanako.friend_id
    assert delivery.due_at == start - timedelta(hours=24)
    assert delivery.state == DeliveryState.PENDING

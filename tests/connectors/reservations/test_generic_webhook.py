"""The signed generic reservation webhook (``reservation.v1``), end to end over HTTP: the
emulated booking system signs and posts, the hub verifies, stores, and applies bookings."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import select

from core.db import Database
from core.inbox import InboundEvent
from core.tenancy import Channel, Shop
from idlink import friends, service
from idlink.models import LinkMethod, Member
from sandbox.reservations.sender import WebhookSender
from sandbox.reservations.systems import Customer, ReservationSystem
from tests.connectors.reservations.conftest import (
    Endpoint,
    add_connection,
    add_member,
    booking,
    stored_events,
    wait_for_booking,
    wait_until_processed,
)
from tests.factories import ChannelSetup, make_shop

HANAKO = Customer("cus_1", name="Hanako", email="Hanako@Example.jp")


def test_signed_booking_is_stored_and_attached_to_the_member_with_that_email(
    db: Database, shop: Shop, generic: Endpoint, sender: WebhookSender
) -> None:
    member_id = add_member(db, shop, "M-100", email="hanako@example.jp")
    system = ReservationSystem()
    event = system.book(HANAKO, start="2026-12-01T10:00:00+09:00", end="2026-12-01T11:00:00+09:00")

    delivery = sender.send_v1(generic.url, event, secrets=generic.secrets)

    assert delivery.status == 200
    assert delivery.response == {"received": 1, "stored": 1}
    stored = wait_for_booking(db, generic, "bk_1", member_id=member_id)
    assert stored.status == "confirmed"
    assert stored.start_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert stored.end_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert (stored.service, stored.staff, stored.location) == ("Cut", "Sato", "Shibuya")


def test_wrong_signature_is_refused_with_401_and_stores_nothing(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00:00")

    delivery = sender.send_v1(generic.url, event, secrets=["not-the-secret"])

    assert delivery.status == 401
    assert isinstance(delivery.response, dict)
    assert delivery.response["error"] == "InvalidSignature"
    assert stored_events(db, generic) == []


def test_body_changed_after_signing_is_refused(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00:00")
    stamp = int(time.time())
    signed = sender.send_v1(generic.url, event, secrets=generic.secrets, timestamp=stamp)
    tampered = signed.body.replace(b"2026-12-01", b"2026-12-02")

    delivery = sender.post(generic.url, tampered, {**signed.headers, "X-Tsunagu-Event-Id": "x"})

    assert delivery.status == 401
    assert len(stored_events(db, generic)) == 1


def test_timestamp_more_than_five_minutes_old_is_refused_as_a_replay(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00:00")

    stale = sender.send_v1(
        generic.url, event, secrets=generic.secrets, timestamp=int(time.time()) - 301
    )
    fresh = sender.send_v1(
        generic.url, event, secrets=generic.secrets, timestamp=int(time.time()) - 240
    )

    assert stale.status == 401
    assert isinstance(stale.response, dict)
    assert "clock" in stale.response["detail"]
    assert fresh.status == 200


def test_during_secret_rotation_a_signature_with_either_secret_is_accepted(
    db: Database, shop: Shop, hub_url: str, sender: WebhookSender
) -> None:
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    endpoint = add_connection(
        db, shop, hub_url, kind="reservations", credentials={"secrets": [new, old]}
    )
    system = ReservationSystem()

    signed_with_old = sender.send_v1(
        endpoint.url, system.book(HANAKO, start="2026-12-01T10:00"), secrets=[old]
    )
    signed_with_both = sender.send_v1(
        endpoint.url, system.book(HANAKO, start="2026-12-02T10:00"), secrets=["retired", new]
    )
    signed_with_neither = sender.send_v1(
        endpoint.url, system.book(HANAKO, start="2026-12-03T10:00"), secrets=["retired"]
    )

    assert [signed_with_old.status, signed_with_both.status] == [200, 200]
    assert signed_with_neither.status == 401
    assert len(stored_events(db, endpoint)) == 2


def test_redelivered_event_is_stored_and_applied_once(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00:00")

    first = sender.send_v1(generic.url, event, secrets=generic.secrets)
    again = sender.send_v1(generic.url, event, secrets=generic.secrets)

    assert first.response == {"received": 1, "stored": 1}
    assert again.status == 200
    assert again.response == {"received": 1, "stored": 0}
    wait_until_processed(db, generic, 1)
    assert len(stored_events(db, generic)) == 1


def test_older_version_arriving_after_a_newer_one_changes_nothing(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    system = ReservationSystem()
    created = system.book(HANAKO, start="2026-12-01T10:00:00+09:00")
    moved = system.reschedule("bk_1", start="2026-12-05T15:00:00+09:00")

    sender.send_v1(generic.url, moved, secrets=generic.secrets)
    wait_for_booking(db, generic, "bk_1", version=2)
    sender.send_v1(generic.url, created, secrets=generic.secrets)
    wait_until_processed(db, generic, 2)

    stored = booking(db, generic, "bk_1")
    assert stored is not None
    assert stored.version == 2
    assert stored.start_at == datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def test_reschedule_under_a_new_id_supersedes_the_old_booking(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    system = ReservationSystem()
    sender.send_v1(
        generic.url, system.book(HANAKO, start="2026-12-01T10:00"), secrets=generic.secrets
    )
    old = wait_for_booking(db, generic, "bk_1")

    moved = system.reschedule("bk_1", start="2026-12-08T10:00", new_id=True)
    sender.send_v1(generic.url, moved, secrets=generic.secrets)

    new = wait_for_booking(db, generic, "bk_2", status="confirmed")
    assert new.start_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    replaced = wait_for_booking(db, generic, "bk_1", status="rescheduled")
    assert replaced.superseded_by_id == new.id
    assert replaced.id == old.id


def test_cancel_cancels_the_booking_and_a_late_update_does_not_revive_it(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    system = ReservationSystem()
    sender.send_v1(
        generic.url, system.book(HANAKO, start="2026-12-01T10:00"), secrets=generic.secrets
    )
    late_update = system.update("bk_1", staff="Suzuki")
    cancelled = system.cancel("bk_1")

    sender.send_v1(generic.url, cancelled, secrets=generic.secrets)
    wait_for_booking(db, generic, "bk_1", status="cancelled")
    sender.send_v1(generic.url, late_update, secrets=generic.secrets)
    wait_until_processed(db, generic, 3)

    stored = booking(db, generic, "bk_1")
    assert stored is not None
    assert (stored.status, stored.version) == ("cancelled", 3)


def test_zone_less_times_are_read_in_the_connection_timezone_asia_tokyo(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    system = ReservationSystem(timezone=None)

    sender.send_v1(
        generic.url,
        system.book(HANAKO, start="2026-12-01T10:00:00", end="2026-12-01T10:45:00"),
        secrets=generic.secrets,
    )

    stored = wait_for_booking(db, generic, "bk_1")
    assert stored.timezone == "Asia/Tokyo"
    assert stored.start_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert stored.end_at == datetime(2026, 12, 1, 1, 45, tzinfo=UTC)


def test_bookings_attach_by_member_number_phone_and_line_user_id_never_by_name(
    db: Database, shop: Shop, channel: ChannelSetup, generic: Endpoint, sender: WebhookSender
) -> None:
    by_number = add_member(db, shop, "M-200")
    by_phone = add_member(db, shop, "M-201", phone="090-1234-5678")
    by_line = add_member(db, shop, "M-202")
    add_member(db, shop, "M-203", name="Taro Yamada")
    line_user_id = "U" + secrets.token_hex(16)
    _link(db, channel, line_user_id, by_line)
    system = ReservationSystem()
    customers = [
        Customer("c1", member_id="M-200"),
        Customer("c2", phone_e164="+819012345678"),
        Customer("c3", line_user_id=line_user_id),
        Customer("c4", name="Taro Yamada"),
    ]

    for customer in customers:
        sender.send_v1(
            generic.url, system.book(customer, start="2026-12-01T10:00"), secrets=generic.secrets
        )

    wait_until_processed(db, generic, 4)
    attached = [booking(db, generic, f"bk_{n}") for n in range(1, 5)]
    assert [b.member_id if b else "missing" for b in attached] == [
        by_number,
        by_phone,
        by_line,
        None,
    ]


def test_signed_but_unusable_body_is_stored_with_its_error_and_answered_422(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="next tuesday")

    delivery = sender.send_v1(generic.url, event, secrets=generic.secrets)

    assert delivery.status == 422
    (stored,) = stored_events(db, generic)
    assert stored.status == "failed"
    assert "booking.start" in (stored.last_error or "")
    assert booking(db, generic, "bk_1") is None


def test_unknown_event_type_is_stored_not_rejected(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00")
    event["event_type"] = "booking.reminder_sent"

    delivery = sender.send_v1(generic.url, event, secrets=generic.secrets)

    assert delivery.status == 200
    wait_until_processed(db, generic, 1)
    with db.session_scope() as session:
        stored = session.scalars(select(InboundEvent)).one()
        assert (stored.event_type, stored.status) == ("booking.reminder_sent", "processed")
    assert booking(db, generic, "bk_1") is None


def _link(db: Database, channel: ChannelSetup, line_user_id: str, member_id: int) -> None:
    with db.session_scope() as session:
        line_channel = session.get_one(Channel, channel.channel_pk)
        friend = friends.get_or_create_friend(
            session, channel=line_channel, line_user_id=line_user_id
        )
        service.link_member(
            session,
            channel=line_channel,
            friend=friend,
            member=session.get_one(Member, member_id),
            method=LinkMethod.STAFF,
            actor="test",
            now=datetime.now(UTC),
        )


def test_the_same_event_id_from_two_shops_systems_is_stored_for_each(
    db: Database, shop: Shop, hub_url: str, generic: Endpoint, sender: WebhookSender
) -> None:
    other_shop = make_shop(db)
    other = add_connection(
        db, other_shop, hub_url, kind="reservations", credentials={"secret": "other-secret"}
    )
    event = ReservationSystem().book(HANAKO, start="2026-12-01T10:00")

    ours = sender.send_v1(generic.url, event, secrets=generic.secrets)
    theirs = sender.send_v1(other.url, event, secrets=other.secrets)

    assert ours.response == theirs.response == {"received": 1, "stored": 1}
    wait_for_booking(db, generic, "bk_1")
    wait_for_booking(db, other, "bk_1")

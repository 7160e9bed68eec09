"""Staff see a LINE friend's bookings and purchases, whatever system they came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from commerce import connections, service
from commerce.models import Connection
from connectors.records import Contact, PurchaseItemRecord, PurchaseRecord
from core.db import Database
from core.tenancy import Shop
from sandbox.reservations.sender import WebhookSender
from sandbox.reservations.systems import Customer, ReservationSystem
from tests.api.admin_support import add_friend, add_link, add_member, admin_api
from tests.factories import ChannelSetup, make_shop
from tests.waiting import wait_for

SECRET = "reservation-webhook-secret"


def reservations_connection(db: Database, shop: Shop) -> int:
    with db.session_scope() as session:
        connection = connections.create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind="reservations",
            name="salon-booking",
            credentials={"secrets": [SECRET]},
        )
        return connection.id


def test_a_booking_hook_shows_on_the_linked_friend(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    member_id = add_member(db, shop.id, "M-77", email="yui@example.jp")
    friend_id = add_friend(db, channel.channel_pk, "U" + "7" * 32)
    add_link(db, shop.id, friend_id, member_id)
    connection_id = reservations_connection(db, shop)
    event = ReservationSystem().book(
        Customer(external_id="cust-1", email="YUI@example.jp"), start="2026-12-01T10:00:00"
    )
    sender = WebhookSender()

    delivery = sender.send_v1(
        f"{hub_url}/webhooks/reservations/{connection_id}", event, secrets=[SECRET]
    )
    sender.close()

    assert delivery.status == 200
    api = admin_api(db, hub_url, shop)
    (booking,) = wait_for(
        lambda: api.get("/bookings", friend_id=friend_id).json()["items"],
        what="the booking on the friend",
    )
    assert booking["member_id"] == member_id
    assert booking["connection"] == "salon-booking"
    # Zone-less 10:00 is Tokyo time: 01:00 UTC.
    assert booking["start_at"].startswith("2026-12-01T01:00:00")


def test_purchases_list_by_member_with_their_lines_and_only_in_the_shop(
    db: Database, hub_url: str, shop: Shop
) -> None:
    member_id = add_member(db, shop.id, "M-78", phone="090-7777-8888")
    with db.session_scope() as session:
        connection = Connection(
            shop_id=shop.id,
            kind="shopify",
            name="web-store",
            credentials=json.dumps({}),
            last_sync_started_at=datetime.now(UTC),
            sync_interval_seconds=86_400,
        )
        session.add(connection)
        session.flush()
        service.apply_record(
            session,
            connection=connection,
            record=PurchaseRecord(
                external_id="5001",
                name="#5001",
                created_at=datetime(2026, 11, 20, tzinfo=UTC),
                updated_at=datetime(2026, 11, 20, tzinfo=UTC),
                currency="JPY",
                total=Decimal("8800"),
                contact=Contact(phone="+819077778888"),
                items=(PurchaseItemRecord("l1", "Hair oil", 1, Decimal("8800"), sku="OIL-1"),),
            ),
        )

    mine = admin_api(db, hub_url, shop).get("/purchases", member_id=member_id).json()["items"]
    theirs = admin_api(db, hub_url, make_shop(db)).get("/purchases").json()["items"]

    assert [(p["name"], p["connection"], p["items"][0]["sku"]) for p in mine] == [
        ("#5001", "web-store", "OIL-1")
    ]
    assert theirs == []


def test_an_unlinked_friend_has_no_bookings_and_an_unknown_friend_is_404(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "8" * 32)
    api = admin_api(db, hub_url, shop)

    assert api.get("/bookings", friend_id=friend_id).json()["items"] == []
    assert api.get("/bookings", friend_id=999_999).status_code == 404

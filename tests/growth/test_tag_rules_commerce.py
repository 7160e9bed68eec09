"""Tag rules on purchases, spend, bookings, links and lapses: written as connectors and staff
write them, read by the hub's own worker on its schedule, and acting once per event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors.records import BookingStatus
from core.clock import utcnow
from core.db import Database
from idlink import service as idlink_service
from idlink.models import MemberLink
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.factories import ChannelSetup
from tests.growth.tagrule_support import (
    cursor_name,
    history_of,
    hits_of,
    make_rule,
    wait_for_tag,
)
from tests.idlink.support import tags_of
from tests.messaging.commerce_support import (
    add_connection,
    linked_customer,
    record_booking,
    record_purchase,
    wait_until_read,
)
from tests.messaging.test_purchase_triggers import connected_store, order_webhook
from tsunagu.hub import Hub


@pytest.fixture
def store_id(db: Database, channel: ChannelSetup) -> int:
    return add_connection(db, channel.shop_id, "shopify")


@pytest.fixture
def shopify_server(tmp_path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


def test_a_signed_shopify_order_tags_its_buyer_and_the_history_names_the_rule(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    shopify_server: ShopifyServer,
) -> None:
    store = connected_store(db, hub, channel, shopify_server)
    hanako = linked_customer(db, line_sandbox, channel, "T-1", email="hanako@example.jp")
    rule = make_rule(
        db,
        channel.shop_id,
        "first buyers",
        trigger={"event": "purchase", "purchase_number": 1},
        add=["first-buyer"],
        remove=["prospect"],
    )
    order = shopify_server.state.add_order(email="hanako@example.jp")

    assert order_webhook(shopify_server, store, order).status_code == 200
    assert order_webhook(shopify_server, store, order).status_code == 200

    wait_for_tag(db, hanako.friend_id, "first-buyer")
    assert history_of(db, hanako.friend_id)[-1] == ("first-buyer", True, "rule:first buyers")
    assert len(hits_of(db, rule)) == 1


def test_a_first_purchase_rule_tags_once_whatever_order_the_orders_arrive_in(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "T-2")
    rule = make_rule(
        db,
        channel.shop_id,
        "first",
        trigger={"event": "purchase", "purchase_number": 1},
        add=["new"],
    )

    newer = record_purchase(db, store_id, hanako, "2002")
    wait_for_tag(db, hanako.friend_id, "new")
    again = record_purchase(db, store_id, hanako, "2002", version=utcnow())
    older = record_purchase(db, store_id, hanako, "2001", ordered_at=utcnow() - timedelta(hours=2))
    wait_until_read(db, cursor_name(rule), max(again.updated_at, older.updated_at))

    assert hits_of(db, rule) == [(hanako.friend_id, f"purchase:{newer.id}")]
    assert [e for e in history_of(db, hanako.friend_id) if e[0] == "new"] == [
        ("new", True, "rule:first")
    ]


def test_a_second_purchase_rule_waits_for_the_second_and_ignores_test_and_cancelled_orders(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    taro = linked_customer(db, line_sandbox, channel, "T-3")
    rule = make_rule(
        db,
        channel.shop_id,
        "again",
        trigger={"event": "purchase", "purchase_number": 2},
        add=["repeat"],
    )

    record_purchase(db, store_id, taro, "3001", ordered_at=utcnow() - timedelta(hours=3))
    cancelled = record_purchase(
        db, store_id, taro, "3002", ordered_at=utcnow() - timedelta(hours=2), cancelled_at=utcnow()
    )
    wait_until_read(db, cursor_name(rule), cancelled.updated_at)
    assert "repeat" not in tags_of(db, taro.friend_id)

    second = record_purchase(db, store_id, taro, "3003")
    wait_for_tag(db, taro.friend_id, "repeat")
    assert hits_of(db, rule) == [(taro.friend_id, f"purchase:{second.id}")]


def test_product_and_spend_rules_tag_only_who_meets_them(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "T-4")
    taro = linked_customer(db, line_sandbox, channel, "T-5")
    serum = make_rule(
        db,
        channel.shop_id,
        "serum",
        trigger={"event": "purchase", "skus": ["SERUM"]},
        add=["serum"],
    )
    vip = make_rule(
        db,
        channel.shop_id,
        "vip",
        trigger={"event": "total_spend", "amount": "10000"},
        add=["vip"],
    )

    record_purchase(db, store_id, hanako, "4001", sku="SERUM", total="6000")
    record_purchase(db, store_id, taro, "4002", sku="SHAMPOO", total="6000")
    wait_for_tag(db, hanako.friend_id, "serum")
    last = record_purchase(db, store_id, hanako, "4003", sku="SHAMPOO", total="5000")
    wait_for_tag(db, hanako.friend_id, "vip")
    wait_until_read(db, cursor_name(vip), last.updated_at)
    wait_until_read(db, cursor_name(serum), last.updated_at)

    assert not {"serum", "vip"} & tags_of(db, taro.friend_id)
    assert hits_of(db, vip) == [(hanako.friend_id, "total_spend")]


def test_a_booking_made_then_visited_tags_by_each_rule(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    salon = add_connection(db, channel.shop_id)
    hanako = linked_customer(db, line_sandbox, channel, "T-6")
    booked = make_rule(db, channel.shop_id, "booked", trigger={"event": "booking"}, add=["booked"])
    visited = make_rule(
        db,
        channel.shop_id,
        "visited",
        trigger={"event": "booking", "status": "visited"},
        add=["visited"],
        remove=["booked"],
    )
    start = utcnow() + timedelta(days=2)

    record_booking(db, salon, hanako, "B-1", start_at=start)
    wait_for_tag(db, hanako.friend_id, "booked")
    record_booking(
        db, salon, hanako, "B-1", start_at=start, status=BookingStatus.COMPLETED, version=2
    )
    wait_for_tag(db, hanako.friend_id, "visited")

    assert "booked" not in tags_of(db, hanako.friend_id)
    assert len(hits_of(db, booked)) == len(hits_of(db, visited)) == 1


def test_link_and_unlink_rules_tag_as_members_link_and_leave(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    make_rule(db, channel.shop_id, "members", trigger={"event": "link"}, add=["member"])
    make_rule(
        db,
        channel.shop_id,
        "left",
        trigger={"event": "unlink"},
        add=["former-member"],
        remove=["member"],
    )
    hanako = linked_customer(db, line_sandbox, channel, "T-7")
    wait_for_tag(db, hanako.friend_id, "member")

    with db.session_scope() as session:
        link = idlink_service.active_link_of_friend(session, hanako.friend_id)
        assert isinstance(link, MemberLink)
        idlink_service.unlink(session, link=link, actor="test", reason="test", now=utcnow())
    wait_for_tag(db, hanako.friend_id, "former-member")

    assert "member" not in tags_of(db, hanako.friend_id)


def test_the_scheduled_task_tags_a_lapsed_customer_once_per_lapse(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    lapsed = linked_customer(db, line_sandbox, channel, "T-8")
    regular = linked_customer(db, line_sandbox, channel, "T-9")
    record_purchase(db, store_id, lapsed, "8001", ordered_at=utcnow() - timedelta(days=100))
    record_purchase(db, store_id, regular, "8002", ordered_at=utcnow() - timedelta(days=2))
    rule = make_rule(
        db,
        channel.shop_id,
        "dormant",
        trigger={"event": "no_purchase", "days": 90},
        add=["dormant"],
    )

    wait_for_tag(db, lapsed.friend_id, "dormant")

    assert "dormant" not in tags_of(db, regular.friend_id)
    day = (utcnow() - timedelta(days=100)).date().isoformat()
    assert hits_of(db, rule) == [(lapsed.friend_id, f"lapsed:{day}")]

"""Deduplication is per receiving channel or connection: no tenant's event is dropped because
another channel or connection stored an event with the same id, and long keys are never cut."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import partial

import httpx
import pytest
from sqlalchemy import select

from connectors.line.webhook import signature
from core.db import Database
from core.inbox import InboundEvent
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.connectors.shopify.conftest import connect, purchases
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.waiting import wait_for


@pytest.fixture
def shopify_server(tmp_path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


def follow(channel: ChannelSetup, user_id: str, event_id: str) -> httpx.Response:
    event = {
        "type": "follow",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "webhookEventId": event_id,
        "source": {"type": "user", "userId": user_id},
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r" * 32,
        "follow": {"isUnblocked": False},
    }
    body = json.dumps({"destination": channel.bot_user_id, "events": [event]}).encode()
    headers = {"x-line-signature": signature(channel.channel_secret, body)}
    return httpx.post(channel.webhook_url, content=body, headers=headers, timeout=10)


def stored_keys(db: Database, **where: int) -> list[str]:
    with db.session_scope() as session:
        query = select(InboundEvent.dedup_key).order_by(InboundEvent.id)
        for column, value in where.items():
            query = query.where(getattr(InboundEvent, column) == value)
        return list(session.scalars(query))


def test_one_store_connected_to_two_shops_gets_its_order_into_both(
    db: Database, shop: Shop, shopify_server: ShopifyServer, hub_url: str
) -> None:
    other_shop = make_shop(db)
    first = connect(db, shop, shopify_server, hub_url)
    second = connect(db, other_shop, shopify_server, hub_url)
    order = shopify_server.state.add_order(items=[("Yuzu tart", 1, "720")])
    payload = shopify_server.webhooks.order_payload(order["id"])

    answers = [
        shopify_server.webhooks.send(store.webhook_url, "orders/create", payload, event_id="77")
        for store in (first, second)
    ]

    assert [a.json() for a in answers] == [{"received": 1, "stored": 1}] * 2
    for connection_id in (first.connection_id, second.connection_id):
        wait_for(
            partial(_has_order, db, connection_id, order["legacyResourceId"]),
            what="the order to become a purchase of each shop",
        )


def test_an_event_id_stored_through_one_channel_does_not_block_another_channels_event(
    db: Database, line_sandbox: SandboxServer, hub_url: str, shop: Shop
) -> None:
    channel_a = make_channel(db, line_sandbox, hub_url, shop)
    channel_b = make_channel(db, line_sandbox, hub_url, make_shop(db))
    shared_id = "01JSAMEIDFROMTWOCHANNELS00"

    through_b = follow(channel_b, "U" + "b" * 32, shared_id)
    through_a = follow(channel_a, "U" + "a" * 32, shared_id)
    again_a = follow(channel_a, "U" + "a" * 32, shared_id)

    assert through_b.json() == {"received": 1, "stored": 1}
    assert through_a.json() == {"received": 1, "stored": 1}
    assert again_a.json() == {"received": 1, "stored": 0}
    assert stored_keys(db, channel_id=channel_a.channel_pk) == [shared_id]
    assert stored_keys(db, channel_id=channel_b.channel_pk) == [shared_id]


def test_a_long_shop_domain_does_not_make_later_events_duplicates(
    db: Database, shop: Shop, shopify_server: ShopifyServer, hub_url: str
) -> None:
    shopify_server.state.shop_domain = "a-very-long-store-name-" * 6 + ".myshopify.com"
    store = connect(db, shop, shopify_server, hub_url)
    sender = shopify_server.webhooks
    orders = [shopify_server.state.add_order() for _ in range(2)]

    answers = [
        sender.send(store.webhook_url, "orders/create", sender.order_payload(o["id"]))
        for o in orders
    ]
    redelivered = sender.redeliver(store.webhook_url, sender.deliveries[-1])

    assert [a.json() for a in answers] == [{"received": 1, "stored": 1}] * 2
    assert redelivered.json() == {"received": 1, "stored": 0}
    keys = stored_keys(db, connection_id=store.connection_id)
    assert len(set(keys)) == 2
    assert all(len(key) <= 128 and key.startswith("sha256:") for key in keys)


def _has_order(db: Database, connection_id: int, order_id: str) -> bool:
    return order_id in purchases(db, connection_id)

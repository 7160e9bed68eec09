"""Purchase campaigns, end to end: purchases written as connectors write them, the hub's own
worker firing the campaigns, and the sandbox phone showing what the customer received."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commerce.models import Purchase
from commerce.sync import run_sync
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from messaging.campaigns.triggers import RENUMBERED_REASON
from messaging.compose.compose import due_after
from messaging.outbox.models import DeliveryState
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup
from tests.messaging.commerce_support import (
    add_connection,
    deliveries_of,
    linked_customer,
    pause_campaign,
    record_purchase,
    start_campaign,
    texts,
    wait_for_texts,
    wait_until_read,
)
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

THANKS = [{"type": "text", "text": "{{ member_name }}様、初めてのお買い物ありがとうございます"}]


@pytest.fixture
def store_id(db: Database, channel: ChannelSetup) -> int:
    open_all_hours(db, channel)
    return add_connection(db, channel.shop_id, "shopify")


def test_first_purchase_gets_one_thank_you_and_the_second_none(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-1", name="佐藤 花子")
    campaign = start_campaign(
        db, channel, name="first", kind="purchase", trigger={"purchase_number": 1}, messages=THANKS
    )

    first = record_purchase(db, store_id, hanako, "1001")
    assert wait_for_texts(line_sandbox, channel, hanako, 1) == [
        "佐藤 花子様、初めてのお買い物ありがとうございます"
    ]
    second = record_purchase(db, store_id, hanako, "1002")
    wait_until_read(db, campaign.source, second.updated_at)

    assert texts(line_sandbox, channel, hanako) == [
        "佐藤 花子様、初めてのお買い物ありがとうございます"
    ]
    assert [d.idempotency_key for d in deliveries_of(db, campaign.source)] == [
        f"campaign:{campaign.id}:purchase:{first.id}"
    ]


def test_an_older_order_arriving_after_the_thanked_one_brings_no_second_thank_you(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-5", name="佐藤 花子")
    campaign = start_campaign(
        db, channel, name="first", kind="purchase", trigger={"purchase_number": 1}, messages=THANKS
    )

    newer = record_purchase(db, store_id, hanako, "5002")
    wait_for_texts(line_sandbox, channel, hanako, 1)
    older = record_purchase(db, store_id, hanako, "5001", ordered_at=utcnow() - timedelta(hours=2))
    wait_until_read(db, campaign.source, older.updated_at)

    assert len(texts(line_sandbox, channel, hanako)) == 1
    assert [d.idempotency_key for d in deliveries_of(db, campaign.source)] == [
        f"campaign:{campaign.id}:purchase:{newer.id}"
    ]


def test_an_older_order_arriving_before_the_send_moves_the_thank_you_to_it(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-6")
    campaign = start_campaign(
        db,
        channel,
        name="first-later",
        kind="purchase",
        trigger={"purchase_number": 1},
        messages=THANKS,
        delay={"days": 1, "at": "10:00"},
    )

    newer = record_purchase(db, store_id, hanako, "6002")
    wait_for(lambda: deliveries_of(db, campaign.source), what="the thank-you planned")
    older = record_purchase(db, store_id, hanako, "6001", ordered_at=utcnow() - timedelta(hours=2))
    wait_until_read(db, campaign.source, older.updated_at)

    by_key = {d.idempotency_key: d for d in deliveries_of(db, campaign.source)}
    moved = by_key[f"campaign:{campaign.id}:purchase:{newer.id}"]
    assert (moved.state, moved.reason) == (DeliveryState.CANCELLED, RENUMBERED_REASON)
    assert by_key[f"campaign:{campaign.id}:purchase:{older.id}"].state == DeliveryState.PENDING


def test_a_backfilled_older_order_withdraws_a_waiting_first_purchase_thanks(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    """An order from last year is too old to be thanked itself, but it still proves that the
    order waiting for its "first purchase" message is not the member's first."""
    hanako = linked_customer(db, line_sandbox, channel, "M-7")
    campaign = start_campaign(
        db,
        channel,
        name="first-backfill",
        kind="purchase",
        trigger={"purchase_number": 1},
        messages=THANKS,
        delay={"days": 1, "at": "10:00"},
    )

    newer = record_purchase(db, store_id, hanako, "7002")
    wait_for(lambda: deliveries_of(db, campaign.source), what="the thank-you planned")
    older = record_purchase(db, store_id, hanako, "7001", ordered_at=utcnow() - timedelta(days=400))
    wait_until_read(db, campaign.source, older.updated_at)

    assert [(d.idempotency_key, d.state, d.reason) for d in deliveries_of(db, campaign.source)] == [
        (f"campaign:{campaign.id}:purchase:{newer.id}", DeliveryState.CANCELLED, RENUMBERED_REASON)
    ]


def test_second_purchase_campaign_fires_on_the_second_across_connectors(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    ichiro = linked_customer(db, line_sandbox, channel, "M-2")
    pos_id = add_connection(db, channel.shop_id, "shopify")
    campaign = start_campaign(
        db,
        channel,
        name="again",
        kind="purchase",
        trigger={"purchase_number": 2},
        messages=[{"type": "text", "text": "またのご利用ありがとうございます"}],
    )

    record_purchase(db, store_id, ichiro, "2001", ordered_at=utcnow() - timedelta(hours=1))
    second = record_purchase(db, pos_id, ichiro, "POS-1")

    assert wait_for_texts(line_sandbox, channel, ichiro, 1) == ["またのご利用ありがとうございます"]
    assert [d.idempotency_key for d in deliveries_of(db, campaign.source)] == [
        f"campaign:{campaign.id}:purchase:{second.id}"
    ]


@pytest.mark.parametrize("undo", ["refund", "cancel"])
def test_a_refund_or_cancel_before_the_send_cancels_the_thank_you(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int, undo: str
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-3")
    campaign = start_campaign(
        db,
        channel,
        name="later",
        kind="purchase",
        messages=THANKS,
        delay={"days": 3, "at": "10:00"},
    )
    ordered_at = utcnow()
    purchase = record_purchase(db, store_id, hanako, "3001", ordered_at=ordered_at)
    planned = wait_for(lambda: deliveries_of(db, campaign.source), what="the thank-you planned")
    assert planned[0].state == DeliveryState.PENDING
    assert planned[0].due_at == due_after(ordered_at, {"days": 3, "at": "10:00"}, "Asia/Tokyo")

    if undo == "refund":
        record_purchase(db, store_id, hanako, "3001", ordered_at=ordered_at, refunded_total="3000")
    else:
        record_purchase(db, store_id, hanako, "3001", ordered_at=ordered_at, cancelled_at=utcnow())

    cancelled = wait_for(
        lambda: [d for d in deliveries_of(db, campaign.source) if d.state == "cancelled"],
        what="the thank-you cancelled",
    )
    assert cancelled[0].idempotency_key == f"campaign:{campaign.id}:purchase:{purchase.id}"
    assert cancelled[0].reason == "the purchase was cancelled or refunded"
    assert texts(line_sandbox, channel, hanako) == []


def test_a_partial_refund_keeps_the_thank_you(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-4")
    campaign = start_campaign(
        db, channel, name="later", kind="purchase", messages=THANKS, delay={"days": 1}
    )
    ordered_at = utcnow()
    record_purchase(db, store_id, hanako, "4001", ordered_at=ordered_at)
    wait_for(lambda: deliveries_of(db, campaign.source), what="the thank-you planned")

    partial = record_purchase(
        db, store_id, hanako, "4001", ordered_at=ordered_at, refunded_total="1000"
    )
    wait_until_read(db, campaign.source, partial.updated_at)

    assert [d.state for d in deliveries_of(db, campaign.source)] == [DeliveryState.PENDING]


def test_old_orders_from_a_backfill_send_nothing(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    old_customer = linked_customer(db, line_sandbox, channel, "M-5")
    new_customer = linked_customer(db, line_sandbox, channel, "M-6")
    campaign = start_campaign(db, channel, name="any", kind="purchase", messages=THANKS)

    old = record_purchase(
        db, store_id, old_customer, "5001", ordered_at=utcnow() - timedelta(days=3)
    )
    record_purchase(db, store_id, new_customer, "5002", ordered_at=utcnow() - timedelta(hours=47))
    wait_for_texts(line_sandbox, channel, new_customer, 1)
    wait_until_read(db, campaign.source, old.updated_at)

    assert texts(line_sandbox, channel, old_customer) == []
    assert len(deliveries_of(db, campaign.source)) == 1


def test_product_sku_and_total_conditions_must_all_hold(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    customers = [linked_customer(db, line_sandbox, channel, f"M-7{i}") for i in range(4)]
    campaign = start_campaign(
        db,
        channel,
        name="gift",
        kind="purchase",
        trigger={"skus": ["GIFT"], "product_ids": ["900"], "min_total": "5000"},
        messages=[{"type": "text", "text": "ギフトのご購入ありがとうございます"}],
    )

    record_purchase(db, store_id, customers[0], "7001", sku="GIFT", total="6000")
    record_purchase(db, store_id, customers[1], "7002", product_id="900", total="5000")
    record_purchase(db, store_id, customers[2], "7003", sku="GIFT", total="4999")
    last = record_purchase(db, store_id, customers[3], "7004", sku="OTHER", total="9000")
    wait_for_texts(line_sandbox, channel, customers[1], 1)
    wait_for_texts(line_sandbox, channel, customers[0], 1)
    wait_until_read(db, campaign.source, last.updated_at)

    assert texts(line_sandbox, channel, customers[2]) == []
    assert texts(line_sandbox, channel, customers[3]) == []


def test_only_active_campaigns_fire_and_only_for_linked_friends(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    hanako = linked_customer(db, line_sandbox, channel, "M-8")
    active = start_campaign(db, channel, name="active", kind="purchase", messages=THANKS)
    paused = start_campaign(db, channel, name="paused", kind="purchase", messages=THANKS)
    pause_campaign(db, paused.id)

    record_purchase(db, store_id, None, "8001")  # a guest: no member, no friend
    mine = record_purchase(db, store_id, hanako, "8002")
    wait_for_texts(line_sandbox, channel, hanako, 1)
    wait_until_read(db, paused.source, mine.updated_at)

    assert len(deliveries_of(db, active.source)) == 1
    assert deliveries_of(db, paused.source) == []


@pytest.fixture
def shopify_server(tmp_path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


def connected_store(db: Database, hub: Hub, channel: ChannelSetup, server: ShopifyServer) -> Store:
    """The channel's shop with a Shopify connection to the sandbox store, no quiet hours."""
    open_all_hours(db, channel)
    with db.session_scope() as session:
        shop = session.get_one(Shop, channel.shop_id)
    return connect(db, shop, server, hub.settings.public_url)


def order_webhook(server: ShopifyServer, store: Store, order: dict[str, Any]) -> httpx.Response:
    """The store's signed ``orders/create`` webhook for ``order``, sent to the hub."""
    return server.webhooks.send(
        store.webhook_url, "orders/create", server.webhooks.order_payload(order["id"])
    )


def test_a_signed_shopify_order_webhook_ends_as_a_thank_you_on_the_phone(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    shopify_server: ShopifyServer,
) -> None:
    store = connected_store(db, hub, channel, shopify_server)
    hanako = linked_customer(db, line_sandbox, channel, "M-9", email="hanako@example.jp")
    start_campaign(db, channel, name="thanks", kind="purchase", messages=THANKS)
    order = shopify_server.state.add_order(email="hanako@example.jp")

    response = order_webhook(shopify_server, store, order)

    assert response.status_code == 200
    assert len(wait_for_texts(line_sandbox, channel, hanako, 1)) == 1


def test_a_collection_condition_fires_for_a_product_the_store_keeps_in_it(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    shopify_server: ShopifyServer,
) -> None:
    store = connected_store(db, hub, channel, shopify_server)
    hanako = linked_customer(db, line_sandbox, channel, "M-21", email="hanako@example.jp")
    taro = linked_customer(db, line_sandbox, channel, "M-22", email="taro@example.jp")
    shopify_server.state.add_collection(handle="gift-sets", products=["Gift box", "Tea set"])
    run_sync(db, connection_id=store.connection_id, streams=["collections"])
    campaign = start_campaign(
        db,
        channel,
        name="gifts",
        kind="purchase",
        trigger={"collections": ["gift-sets"]},
        messages=[{"type": "text", "text": "ギフトセットのご購入ありがとうございます"}],
    )
    state = shopify_server.state
    gift = state.add_order(email="hanako@example.jp", items=[("Tea set", 1, "4200")])
    other = state.add_order(email="taro@example.jp", items=[("Matcha latte", 1, "680")])

    for order in (gift, other):
        assert order_webhook(shopify_server, store, order).is_success

    assert wait_for_texts(line_sandbox, channel, hanako, 1) == [
        "ギフトセットのご購入ありがとうございます"
    ]
    with db.session_scope() as session:
        newest = session.scalars(select(func.max(Purchase.updated_at))).one()
    wait_until_read(db, campaign.source, newest)
    assert texts(line_sandbox, channel, taro) == []

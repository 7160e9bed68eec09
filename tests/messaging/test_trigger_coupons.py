"""Coupon codes in trigger campaigns: each purchase's thanks carries its own code of the pool
(imported into the sandbox Shopify store), a re-read plans and gives nothing new, and a pool
that runs dry makes the messages wait, with the reason on the campaign, until codes arrive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from commerce.coupons import filling, pools
from commerce.coupons.models import CouponCode, CouponPool
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from messaging.campaigns import scans
from messaging.campaigns.models import Campaign
from messaging.compose.models import TriggerCursor
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.commerce.coupon_support import make_pool
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup
from tests.messaging.commerce_support import (
    Customer,
    add_connection,
    deliveries_of,
    linked_customer,
    record_purchase,
    run_triggers,
    start_campaign,
    texts,
    wait_for_texts,
)
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

THANKS = [{"type": "text", "text": "{{ coupon }} ご購入ありがとうございます"}]
COME_BACK = [{"type": "text", "text": "{{ coupon }} お久しぶりです"}]


@pytest.fixture
def store(db: Database, shop: Shop, hub_url: str, tmp_path: Path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, hub_url)


@pytest.fixture
def orders_id(db: Database, channel: ChannelSetup) -> int:
    open_all_hours(db, channel)
    return add_connection(db, channel.shop_id, "shopify")


def _code_on_phone(sandbox: SandboxServer, channel: ChannelSetup, customer: Customer) -> str:
    return wait_for_texts(sandbox, channel, customer, 1)[0].split(" ")[0]


def _held_codes(db: Database, pool_id: int) -> dict[int, list[str]]:
    """friend id → the codes of the pool they hold."""
    held: dict[int, list[str]] = {}
    with db.session_scope() as session:
        rows = session.execute(
            select(CouponCode.friend_id, CouponCode.code)
            .where(CouponCode.pool_id == pool_id, CouponCode.friend_id.is_not(None))
            .order_by(CouponCode.id)
        )
        for friend_id, code in rows:
            held.setdefault(friend_id or 0, []).append(code)
    return held


def _campaign(db: Database, campaign_id: int) -> Campaign:
    with db.session_scope() as session:
        return session.get_one(Campaign, campaign_id)


def _add_codes(db: Database, pool_id: int, count: int) -> None:
    with db.session_scope() as session:
        pool = session.get_one(CouponPool, pool_id)
        pools.request_codes(session, pool=pool, count=count, actor="test")
    filling.fill(db, pool_id=pool_id, poll_seconds=0.01)


def test_each_buyer_gets_their_own_code_and_a_reread_gives_none_again(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    store: Store,
    orders_id: int,
) -> None:
    buyers = [linked_customer(db, line_sandbox, channel, f"C-{n}") for n in range(3)]
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=4)
    campaign = start_campaign(
        db, channel, name="thanks", kind="purchase", messages=THANKS, coupon_pool="winter"
    )

    for n, buyer in enumerate(buyers):
        record_purchase(db, orders_id, buyer, f"70{n}")
    codes = [_code_on_phone(line_sandbox, channel, buyer) for buyer in buyers]
    # Read every purchase again, as a run after a crash would.
    with db.session_scope() as session:
        session.get_one(TriggerCursor, campaign.source).position = None
    run_triggers(db, hub.settings.public_url)

    assert len(set(codes)) == 3
    assert all(store.state.discounts.owner_of(code) is not None for code in codes)
    assert _held_codes(db, pool_id) == {
        b.friend_id: [c] for b, c in zip(buyers, codes, strict=True)
    }
    assert len(deliveries_of(db, campaign.source)) == 3
    assert all(len(texts(line_sandbox, channel, buyer)) == 1 for buyer in buyers)


def test_an_empty_pool_makes_the_thanks_wait_with_the_reason_until_codes_arrive(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    store: Store,
    orders_id: int,
) -> None:
    first, second = (linked_customer(db, line_sandbox, channel, f"W-{n}") for n in range(2))
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=1)
    campaign = start_campaign(
        db, channel, name="thanks", kind="purchase", messages=THANKS, coupon_pool="winter"
    )

    record_purchase(db, orders_id, first, "801")
    first_code = _code_on_phone(line_sandbox, channel, first)
    waiting = record_purchase(db, orders_id, second, "802")
    reason = wait_for(
        lambda: _campaign(db, campaign.id).status_reason,
        timeout=20,
        what="the campaign to say it waits for codes",
    )

    assert reason.startswith("waiting for coupon codes: pool 'winter' has 0 free codes")
    assert "tsunagu coupon codes winter" in reason
    assert len(deliveries_of(db, campaign.source)) == 1
    with db.session_scope() as session:
        cursor = session.get_one(TriggerCursor, campaign.source)
        assert cursor.position is not None and cursor.position <= waiting.updated_at
    assert texts(line_sandbox, channel, second) == []

    _add_codes(db, pool_id, 2)
    run_triggers(db, hub.settings.public_url)

    second_code = _code_on_phone(line_sandbox, channel, second)
    assert second_code != first_code
    assert _held_codes(db, pool_id)[second.friend_id] == [second_code]
    assert _campaign(db, campaign.id).status_reason is None


def test_a_lapse_scan_short_of_codes_plans_nobody_then_everybody_once_codes_arrive(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    store: Store,
    orders_id: int,
) -> None:
    lapsed = [linked_customer(db, line_sandbox, channel, f"L-{n}") for n in range(3)]
    for n, customer in enumerate(lapsed):
        record_purchase(db, orders_id, customer, f"90{n}", ordered_at=utcnow() - timedelta(days=60))
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=2)
    campaign = start_campaign(
        db,
        channel,
        name="come back",
        kind="lapsed",
        trigger={"days": 30},
        messages=COME_BACK,
        coupon_pool="winter",
    )

    def scan() -> int:
        with db.session_scope() as session:
            found = session.get_one(Campaign, campaign.id)
            return scans.scan(session, campaign=found, public_url=hub.settings.public_url).created

    assert scan() == 0
    assert "2 free codes and the next messages need 3" in (
        _campaign(db, campaign.id).status_reason or ""
    )
    assert deliveries_of(db, campaign.source) == []
    assert _held_codes(db, pool_id) == {}
    _add_codes(db, pool_id, 1)
    scan()  # the hub's own trigger task may run the due scan first: either plans all three
    assert len(deliveries_of(db, campaign.source)) == 3
    assert scan() == 0

    codes = [_code_on_phone(line_sandbox, channel, customer) for customer in lapsed]
    assert len(set(codes)) == 3
    assert _campaign(db, campaign.id).status_reason is None

"""Coupon pools end to end: codes imported into the sandbox Shopify store, one per friend in a
campaign (the same one on a retried send, never one to two friends), a pool too small stopping
the send, and orders — webhooked or synced — that used a code showing on the report."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from commerce.coupons import assign, pools, queries
from commerce.coupons.assign import PoolTooSmall
from commerce.coupons.models import CodeStatus, CouponCode, CouponPool
from commerce.sync import run_sync
from core.db import Database
from core.tenancy import Shop
from messaging.campaigns import segment_deliveries
from messaging.campaigns.models import Campaign, CampaignStatus
from messaging.outbox.models import Delivery
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.commerce.coupon_support import coupon_campaign, make_pool
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup
from tests.messaging import people
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def shopify_server(tmp_path: Path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


@pytest.fixture
def store(db: Database, shop: Shop, shopify_server: ShopifyServer, hub_url: str) -> Store:
    return connect(db, shop, shopify_server, hub_url)


def _report(db: Database, pool_id: int) -> queries.CouponReport:
    with db.session_scope() as session:
        return queries.pool_row(session, session.get_one(CouponPool, pool_id)).report


def _codes_received(line_sandbox: SandboxServer, channel: ChannelSetup, users: list[str]):
    texts = {u: people.texts_received(line_sandbox.state, channel, u) for u in users}
    if not all(texts.values()):
        return None
    return {u: found[0].split(" ")[0] for u, found in texts.items()}


def test_a_campaign_to_three_friends_gives_three_codes_and_orders_show_them_redeemed(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    store: Store,
) -> None:
    open_all_hours(db, channel)
    followers = add_followers(db, line_sandbox.state, channel, 3)
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=5)
    coupon_campaign(db, channel, list(followers), "winter")

    with db.session_scope() as session:
        segment_deliveries.run(session, settings=hub.settings)
    users = list(followers.values())
    codes = wait_for(
        lambda: _codes_received(line_sandbox, channel, users),
        timeout=30,
        what="each friend's coupon on their phone",
    )

    assert len(set(codes.values())) == 3
    assert all(store.state.discounts.owner_of(code) is not None for code in codes.values())
    # One friend pays with the code (typed in lower case); the order arrives by webhook.
    webhooked = store.state.add_order(discount_codes=[codes[users[0]].lower()])
    payload = store.server.webhooks.order_payload(webhooked["id"])
    assert store.server.webhooks.send(store.webhook_url, "orders/create", payload).is_success
    wait_for(lambda: _report(db, pool_id).redeemed == 1, timeout=30, what="the redemption")
    # Another's order arrives by the periodic sync.
    store.state.add_order(discount_codes=[codes[users[1]]], items=[("Gift box", 1, "3000")])
    run_sync(db, connection_id=store.connection_id, streams=["orders"])

    report = _report(db, pool_id)
    assert (report.issued, report.redeemed) == (3, 2)
    assert report.rate == pytest.approx(2 / 3)
    assert report.revenue == {"JPY": Decimal("3680")}
    assert report.median_hours_to_redeem is not None


def test_a_pool_too_small_stops_the_send_before_it_starts_with_the_number_missing(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, store: Store
) -> None:
    open_all_hours(db, channel)
    followers = add_followers(db, line_sandbox.state, channel, 3)
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=2)
    campaign_id = coupon_campaign(db, channel, list(followers), "winter")

    with db.session_scope() as session:
        result = segment_deliveries.run(session, settings=hub.settings)

    with db.session_scope() as session:
        campaign = session.get_one(Campaign, campaign_id)
        assert result.paused == [campaign_id]
        assert campaign.status == CampaignStatus.PAUSED
        assert "2 codes ready" in (campaign.status_reason or "")
        assert "1 missing" in (campaign.status_reason or "")
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).where(CouponCode.friend_id.is_not(None))) == 0
    assert pool_id


def test_a_retried_send_finds_the_same_codes_and_no_code_goes_to_two_friends(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, store: Store
) -> None:
    friends = list(add_followers(db, line_sandbox.state, channel, 4))
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=6)

    def hand_out(key: str, to: list[int]) -> dict[int, str]:
        with db.session_scope() as session:
            pool = session.get_one(CouponPool, pool_id)
            return assign.assign(session, pool=pool, assigned_for=key, friend_ids=to).codes

    first = hand_out("campaign:1", friends[:3])
    retried = hand_out("campaign:1", friends[:3])
    other_send = hand_out("campaign:2", friends[2:])

    assert retried == first
    assert len(set(first.values()) | set(other_send.values())) == 5
    with pytest.raises(PoolTooSmall, match="1 codes ready and this send needs 2: 1 missing"):
        hand_out("campaign:3", friends[:2])


def test_a_code_the_store_already_has_is_reported_refused_and_never_handed_out(
    db: Database, store: Store, channel: ChannelSetup
) -> None:
    pool_id = make_pool(db, channel.shop_id, store.connection_id, codes=0)
    with db.session_scope() as session:
        pool = session.get_one(CouponPool, pool_id)
        pools.request_codes(session, pool=pool, count=3, actor="test")
        taken = session.scalars(select(CouponCode).where(CouponCode.pool_id == pool_id)).first()
        assert taken is not None
        discount = store.state.discounts.discounts[pool.discount_id]
        taken.code = next(iter(discount.codes.values()))
        taken.code_key = taken.code.upper()
    from commerce.coupons import filling

    progress = filling.fill(db, pool_id=pool_id, poll_seconds=0.01)

    assert (progress.ready, progress.failed) == (2, 1)
    with db.session_scope() as session:
        refused = session.scalars(
            select(CouponCode).where(CouponCode.status == CodeStatus.FAILED)
        ).one()
        assert "TAKEN" in (refused.error or "")
        assert assign.free_codes(session, pool_id) == 2

"""The console's coupon pages: an admin makes a pool on the sandbox store and asks for codes,
which the hub's worker imports; the pool page then shows them, and a refused form says why;
its times are the shop's, and a campaign waiting for its codes says so there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from commerce.coupons.models import CouponCode
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, Shop
from messaging.campaigns import scans
from messaging.campaigns.models import Campaign
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from staff.models import Role
from tests.commerce.coupon_support import offline_pool
from tests.connectors.shopify.conftest import Store, connect
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.messaging.commerce_support import (
    add_connection,
    linked_customer,
    record_purchase,
    start_campaign,
)
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def store(db: Database, shop: Shop, hub_url: str, tmp_path: Path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, hub_url)


def test_an_admin_makes_a_pool_and_its_codes_arrive_on_its_page(
    db: Database, hub_url: str, shop: Shop, store: Store
) -> None:
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    browser = Browser(hub_url)
    browser.sign_in("admin@example.jp")

    made = browser.submit(
        "/console/coupons",
        "/console/coupons",
        {
            "name": "冬のお礼",
            "connection_id": str(store.connection_id),
            "title": "Winter thanks",
            "code_prefix": "WINTER",
            "percentage": "10",
        },
    )
    assert made.status_code == 303, made.text
    pool_path = made.headers["location"]
    asked = browser.submit(pool_path, f"{pool_path}/codes", {"count": "4"})
    assert asked.status_code == 303

    def imported() -> str | None:
        page = browser.get(pool_path).text
        return page if "Shopify に登録中</dt><dd>0<" in page else None

    page = wait_for(imported, timeout=30, what="the codes to be imported")
    assert "発行済み</dt><dd>4<" in page
    (discount,) = store.state.discounts.discounts.values()
    assert len(discount.codes) == 5  # the discount's own first code, and the pool's four
    assert "冬のお礼" in browser.get("/console/coupons").text


def test_a_pool_without_a_discount_is_refused_with_the_reason(
    db: Database, hub_url: str, shop: Shop, store: Store
) -> None:
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    browser = Browser(hub_url)
    browser.sign_in("admin@example.jp")

    refused = browser.submit(
        "/console/coupons",
        "/console/coupons",
        {
            "name": "winter",
            "connection_id": str(store.connection_id),
            "title": "Winter thanks",
            "code_prefix": "WINTER",
        },
    )

    assert refused.status_code == 400
    assert "give exactly one of percentage, amount or discount_id" in refused.text
    assert store.state.discounts.discounts == {}


def test_the_pool_page_shows_times_in_the_shops_timezone_and_a_campaign_waiting_for_codes(
    db: Database,
    hub: Hub,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    line_sandbox: SandboxServer,
) -> None:
    with db.session_scope() as session:
        session.get_one(Channel, channel.channel_pk).timezone = "America/Los_Angeles"
    customer = linked_customer(db, line_sandbox, channel, "L-1", name="佐藤 花子")
    orders = add_connection(db, shop.id, "shopify")
    record_purchase(db, orders, customer, "1", ordered_at=utcnow() - timedelta(days=60))
    given = offline_pool(db, shop.id, "spring", given_to=[customer.friend_id])
    with db.session_scope() as session:
        session.execute(
            update(CouponCode)
            .where(CouponCode.pool_id == given, CouponCode.friend_id.is_not(None))
            .values(assigned_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC))
        )
    empty = offline_pool(db, shop.id, "empty")
    campaign = start_campaign(
        db,
        channel,
        name="come back",
        kind="lapsed",
        trigger={"days": 30},
        messages=[{"type": "text", "text": "{{ coupon }} お久しぶりです"}],
        coupon_pool="empty",
    )
    with db.session_scope() as session:
        found = session.get_one(Campaign, campaign.id)
        scans.scan(session, campaign=found, public_url=hub.settings.public_url)
    add_staff(db, shop, "staff@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)
    browser.sign_in("staff@example.jp")

    times = browser.get(f"/console/coupons/{given}").text
    waiting = browser.get(f"/console/coupons/{empty}").text

    # 01:30 UTC on 1 December is 17:30 the day before in Los Angeles.
    assert "2026-11-30 17:30" in times
    assert "America/Los_Angeles" in times
    assert "come back</strong> · 有効" in waiting
    assert "コード待ち" in waiting
    assert "pool &#39;empty&#39; has 0 free codes and the next messages need 1" in waiting

"""The console's coupon pages: an admin makes a pool on the sandbox store and asks for codes,
which the hub's worker imports; the pool page then shows them, and a refused form says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from staff.models import Role
from tests.connectors.shopify.conftest import Store, connect
from tests.console.support import Browser, add_staff
from tests.waiting import wait_for


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

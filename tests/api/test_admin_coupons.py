"""Coupon pools through the admin API: a pool made on a new discount in the sandbox store, codes
asked for and imported by the hub's worker, the report per campaign, clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database
from core.tenancy import Shop
from messaging.campaigns import segment_deliveries
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.api.admin_support import admin_api
from tests.commerce.coupon_support import coupon_campaign
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def store(db: Database, shop: Shop, hub_url: str, tmp_path: Path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, hub_url)


def _pool_body(store: Store, **overrides: object) -> dict[str, object]:
    body = {
        "name": "winter",
        "connection_id": store.connection_id,
        "title": "Winter thanks",
        "code_prefix": "winter",
        "percentage": "10",
    }
    return body | overrides


def test_a_pool_is_made_its_codes_imported_and_its_report_shown_per_campaign(
    db: Database,
    hub: Hub,
    shop: Shop,
    channel: ChannelSetup,
    line_sandbox: SandboxServer,
    store: Store,
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)

    created = api.post("/coupon-pools", _pool_body(store))
    assert created.status_code == 201, created.text
    pool = created.json()
    assert pool["code_prefix"] == "WINTER"
    assert pool["discount_id"] in store.state.discounts.discounts
    asked = api.post(f"/coupon-pools/{pool['id']}/codes", {"count": 3})
    assert asked.status_code == 202, asked.text
    assert asked.json()["made"] == 3

    def ready() -> dict[str, int] | None:
        codes = api.get(f"/coupon-pools/{pool['id']}").json()["codes"]
        return codes if codes["ready"] == 3 else None

    codes = wait_for(ready, timeout=30, what="the worker to import the codes")
    assert codes == {"new": 0, "importing": 0, "ready": 3, "refused": 0, "free": 3}
    friends = list(add_followers(db, line_sandbox.state, channel, 2))
    campaign_id = coupon_campaign(db, channel, friends, "winter")
    with db.session_scope() as session:
        segment_deliveries.run(session, settings=hub.settings)
    detail = api.get(f"/coupon-pools/{pool['id']}").json()
    assert detail["codes"]["free"] == 1
    assert detail["campaigns"] == [
        {
            "campaign_id": campaign_id,
            "campaign": "winter coupons",
            "report": {
                "issued": 2,
                "redeemed": 0,
                "rate": 0.0,
                "revenue": {},
                "median_hours_to_redeem": None,
            },
        }
    ]
    assert [p["name"] for p in api.get("/coupon-pools").json()["items"]] == ["winter"]
    campaign_report = api.get(f"/campaigns/{campaign_id}/report").json()
    assert campaign_report["coupons"]["issued"] == 2


def test_a_pool_names_exactly_one_discount_and_an_unknown_pool_is_not_found(
    db: Database, hub: Hub, shop: Shop, store: Store
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)

    both = api.post("/coupon-pools", _pool_body(store, discount_id="gid://shopify/Discount/1"))
    taken = api.post("/coupon-pools", _pool_body(store))
    again = api.post("/coupon-pools", _pool_body(store))
    missing = api.post("/coupon-pools/999999/codes", {"count": 1})

    assert both.status_code == 422
    assert "exactly one of percentage, amount or discount_id" in both.text
    assert taken.status_code == 201
    assert again.status_code == 409
    assert missing.status_code == 404

"""Code discounts against the sandbox store over real HTTP, through ``ShopifyAPI``: bulk code
creation is asynchronous, capped at 250 codes a call, refuses codes the store has, and is paced
by the cost bucket (THROTTLED answers are waited out)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from connectors.errors import FatalError
from connectors.shopify import discounts
from connectors.shopify.client import RetryPolicy, ShopifyClient
from sandbox.shopify.server import ShopifyServer

TEN_PERCENT = discounts.DiscountValue(percentage=Decimal(10))


def client_for(server: ShopifyServer, sleeps: list[float] | None = None) -> ShopifyClient:
    return ShopifyClient(
        base_url=server.url,
        access_token=server.state.access_token,
        retry=RetryPolicy(attempts=6, base_delay=0.01),
        sleep=lambda seconds: _sleep(seconds, sleeps),
    )


def _sleep(seconds: float, sleeps: list[float] | None) -> None:
    if sleeps is not None:
        sleeps.append(seconds)
        time.sleep(seconds)


def _discount(client: ShopifyClient) -> str:
    return discounts.create_discount(
        client,
        title="Winter thanks",
        first_code="WINTER-FIRST",
        value=TEN_PERCENT,
        starts_at="2026-12-01T00:00:00Z",
    )


def _follow(client: ShopifyClient, creation_id: str) -> discounts.BulkCreation:
    for _ in range(10):
        creation = discounts.read_creation(client, creation_id)
        if creation.done:
            return creation
    raise AssertionError("the bulk creation never finished")


def test_codes_are_added_asynchronously_and_a_taken_code_is_reported(
    shopify_server: ShopifyServer,
) -> None:
    client = client_for(shopify_server)
    discount_id = _discount(client)
    codes = [f"W-{n:04d}" for n in range(250)]
    codes[7] = "winter-first"  # the discount's own code, in another case

    creation_id = discounts.add_codes(client, discount_id=discount_id, codes=codes)
    pending = discounts.read_creation(client, creation_id)
    finished = _follow(client, creation_id)

    assert pending.done is False
    assert (finished.codes_count, finished.imported_count, finished.failed_count) == (250, 249, 1)
    assert list(finished.failed) == ["winter-first"]
    assert "TAKEN" in finished.failed["winter-first"]
    owner = shopify_server.state.discounts.owner_of("w-0001")
    assert owner is not None and owner.id == discount_id


def test_more_than_250_codes_in_one_call_are_refused(shopify_server: ShopifyServer) -> None:
    client = client_for(shopify_server)
    discount_id = _discount(client)
    too_many = [{"code": f"X{n}"} for n in range(251)]

    answer = client.execute(
        discounts.BULK_ADD, {"discountId": discount_id, "codes": too_many}, cost=10
    )["discountRedeemCodeBulkAdd"]

    assert answer["bulkCreation"] is None
    assert answer["userErrors"][0]["code"] == "TOO_LONG"
    with pytest.raises(ValueError, match="1 to 250"):
        discounts.add_codes(client, discount_id=discount_id, codes=[f"X{n}" for n in range(251)])


def test_an_unknown_discount_is_a_clear_error(shopify_server: ShopifyServer) -> None:
    client = client_for(shopify_server)

    with pytest.raises(FatalError, match="Discount does not exist"):
        discounts.add_codes(client, discount_id="gid://shopify/DiscountCodeNode/1", codes=["A"])


def test_an_empty_bucket_is_waited_out_not_failed(shopify_server: ShopifyServer) -> None:
    sleeps: list[float] = []
    client = client_for(shopify_server, sleeps)
    discount_id = _discount(client)
    # Empty, and a call's 10 points take a second to come back.
    shopify_server.state.set_bucket(size=100, restore_rate=10, available=0)

    creation_id = discounts.add_codes(client, discount_id=discount_id, codes=["ONE", "TWO"])

    assert creation_id.startswith("gid://shopify/DiscountRedeemCodeBulkCreation/")
    assert client.throttled_count >= 1
    assert client.throttle is not None and client.throttle.maximum == 100
    assert sum(sleeps) > 0

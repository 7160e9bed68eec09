"""``tsunagu coupon …``: a pool made on the sandbox store, its codes imported in calls of 250
with progress (resumable), listed and reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.cli_runner import Cli
from tests.connectors.shopify.conftest import Store, connect


@pytest.fixture
def store(db: Database, shop: Shop, tmp_path: Path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, "http://127.0.0.1:9")


def _create(cli: Cli, shop: Shop, store: Store, *extra: str):
    return cli(
        "coupon",
        "create",
        "winter",
        "--shop",
        shop.slug,
        "--connection",
        str(store.connection_id),
        "--title",
        "Winter thanks",
        "--prefix",
        "WINTER",
        *extra,
    )


def test_codes_are_imported_250_a_call_and_the_pool_is_listed(
    cli: Cli, shop: Shop, store: Store
) -> None:
    created = _create(cli, shop, store, "--percentage", "10")
    assert created.exit_code == 0, created.output
    store.state.throttle_next(2)

    made = cli("coupon", "codes", "winter", "--shop", shop.slug, "--count", "300")
    listed = cli("coupon", "list", "--shop", shop.slug)
    reported = cli("coupon", "report", "winter", "--shop", shop.slug)

    assert made.exit_code == 0, made.output
    assert "300 codes ready, 0 refused by Shopify" in made.output
    creations = store.state.discounts.creations.values()
    assert [len(c.codes) for c in creations] == [250, 50]
    (discount,) = store.state.discounts.discounts.values()
    assert len(discount.codes) == 301
    assert "winter" in listed.output and "300" in listed.output
    assert reported.exit_code == 0 and "(all)" in reported.output


def test_a_pool_needs_exactly_one_discount_and_a_shopify_connection(
    cli: Cli, shop: Shop, store: Store
) -> None:
    neither = _create(cli, shop, store)
    missing = cli("coupon", "codes", "nothing", "--shop", shop.slug, "--count", "1")

    assert neither.exit_code == 1
    assert "give the discount's percentage or its amount" in neither.output
    assert missing.exit_code == 1
    assert "no coupon pool 'nothing'" in missing.output

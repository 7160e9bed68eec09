"""Coupon pools in a ``tsunagu apply`` file: planned, made on the sandbox Shopify store with
their codes, named by a campaign of the same file, applied again as nothing, and topped up
when the file asks for more codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from commerce.coupons.models import CouponCode, CouponPool
from commerce.models import Connection
from core.db import Database
from core.tenancy import Shop
from messaging.campaigns.models import Campaign
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.cli_runner import Cli
from tests.connectors.shopify.conftest import Store, connect
from tests.test_cli_admin import add_shop_and_channel

FILE = """\
shop: ginza
coupon_pools:
  - name: thanks
    connection: {connection}
    title: Thanks 10%
    code_prefix: THANKS
    percentage: 10
    codes: 3
campaigns:
  - name: first-purchase-coupon
    channel: "1650000001"
    kind: purchase
    trigger: {{purchase_number: 1}}
    coupon_pool: thanks
    messages: [{{type: text, text: "次回使えるクーポン: {{{{ coupon }}}}"}}]
"""


@pytest.fixture
def store(cli: Cli, db: Database, tmp_path: Path) -> Iterator[Store]:
    add_shop_and_channel(cli)
    with db.session_scope() as session:
        shop = session.scalars(select(Shop).where(Shop.slug == "ginza")).one()
        session.expunge(shop)
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, "http://127.0.0.1:9")


def _connection_name(db: Database, store: Store) -> str:
    with db.session_scope() as session:
        return session.get_one(Connection, store.connection_id).name


def _codes(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(CouponCode)) or 0)


def test_a_pool_in_the_file_is_made_in_the_store_named_by_its_campaign_and_kept(
    cli: Cli, db: Database, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(FILE.format(connection=_connection_name(db, store)), encoding="utf-8")

    dry = cli("apply", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "create coupon_pools 'thanks'" in dry.output
    assert store.state.discounts.discounts == {}

    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "applied 2 change(s)" in applied.output
    with db.session_scope() as session:
        pool = session.scalars(select(CouponPool)).one()
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.coupon_pool_id == pool.id
        (discount,) = store.state.discounts.discounts.values()
        assert pool.discount_id in store.state.discounts.discounts
        assert discount.title == "Thanks 10%"
    assert _codes(db) == 3

    again = cli("apply", str(path), "--yes")
    assert "nothing to change" in again.output, again.output
    assert _codes(db) == 3


def test_more_codes_in_the_file_make_the_missing_ones_and_a_new_connection_is_refused(
    cli: Cli, db: Database, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "shop.yaml"
    text = FILE.format(connection=_connection_name(db, store))
    path.write_text(text, encoding="utf-8")
    assert cli("apply", str(path), "--yes").exit_code == 0

    path.write_text(text.replace("codes: 3", "codes: 5"), encoding="utf-8")
    more = cli("apply", str(path), "--yes")
    assert "update coupon_pools 'thanks'" in more.output, more.output
    assert '+  "codes": 5' in more.output
    assert _codes(db) == 5
    # Fewer than the pool holds is enough: nothing to change, nothing taken away.
    path.write_text(text.replace("codes: 3", "codes: 4"), encoding="utf-8")
    assert "nothing to change" in cli("apply", str(path), "--yes").output
    assert _codes(db) == 5

    path.write_text(text.replace(_connection_name(db, store), "other-store"), encoding="utf-8")
    moved = cli("apply", str(path), "--yes")
    assert moved.exit_code == 1
    assert "stays on the connection it was made on" in " ".join(moved.output.split())

"""A coupon campaign as a shop sees it in a real browser (Playwright, Debian chromium): the
admin makes a pool on the sandbox Shopify store and its codes, a campaign gives three friends
three different codes on their phones, and a sandbox order using one shows redeemed on the
pool's page, which names the campaign handing out its codes. axe-core finds nothing serious on
the coupon pages. Screenshots go to ``test-artifacts/console/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from messaging.campaigns import segment_deliveries
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from staff.models import Role
from tests.commerce.coupon_support import coupon_campaign
from tests.connectors.shopify.conftest import Store, connect
from tests.console.support import add_staff
from tests.console.test_browser import Screen
from tests.factories import ChannelSetup
from tests.messaging import people
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def store(db: Database, shop: Shop, hub_url: str, tmp_path: Path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, hub_url)


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_three_friends_get_three_codes_and_an_order_shows_one_redeemed(
    chromium: Any,
    db: Database,
    hub: Hub,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    line_sandbox: SandboxServer,
    store: Store,
    viewport: str,
) -> None:
    open_all_hours(db, channel)
    followers = add_followers(db, line_sandbox.state, channel, 3)
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport, axe=True)
    page = screen.page
    screen.sign_in("admin@example.jp")

    page.goto("/console/coupons")
    page.fill("#pool-name", "winter")
    page.fill("#pool-title", "Winter thanks 10%")
    page.fill("#pool-prefix", "WINTER")
    page.fill("#pool-percentage", "10")
    page.click("text=プールを作成")
    page.wait_for_url("**/console/coupons/*")
    page.fill("#codes-count", "5")
    # The form posts and the page comes back: reloading before it has would cut that short.
    with page.expect_navigation():
        page.click("text=発行する")

    def imported() -> bool:
        page.reload()
        return "Shopify に登録中 0" in _codes_card(page)

    wait_for(imported, timeout=30, what="the five codes to be imported")
    assert "発行済み 5" in _codes_card(page)
    coupon_campaign(db, channel, list(followers), "winter")
    with db.session_scope() as session:
        segment_deliveries.run(session, settings=hub.settings)

    users = list(followers.values())

    def codes_on_phones() -> list[str] | None:
        texts = [people.texts_received(line_sandbox.state, channel, u) for u in users]
        return [t[0].split(" ")[0] for t in texts] if all(texts) else None

    codes = wait_for(codes_on_phones, timeout=30, what="each friend's coupon")
    assert len(set(codes)) == 3
    order = store.state.add_order(discount_codes=[codes[0]], items=[("Gift box", 1, "3000")])
    payload = store.server.webhooks.order_payload(order["id"])
    assert store.server.webhooks.send(store.webhook_url, "orders/create", payload).is_success

    def redeemed_row() -> str | None:
        page.reload()
        row = page.locator("tr", has_text=codes[0]).inner_text()
        return row if order["name"] in row else None

    row = wait_for(redeemed_row, timeout=30, what="the order on the pool's page")
    report = page.locator("tr.total").inner_text().split()
    assert report[:4] == ["全体", "3", "1", "33.3%"]
    assert "3,000 JPY" in page.locator("tr.total").inner_text()
    assert order["name"] in row
    assert "winter coupons" in page.locator(".pool-senders").inner_text()
    screen.shot("coupon-pool-redeemed")
    problems = screen.accessibility_problems()
    page.goto("/console/coupons")
    screen.shot("coupon-pools")
    problems += screen.accessibility_problems()
    assert problems == []
    assert screen.errors == []
    screen.close()


def _codes_card(page: Any) -> str:
    return " ".join(page.locator(".pool-codes").inner_text().split())

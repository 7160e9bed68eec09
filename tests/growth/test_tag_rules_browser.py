"""タグ自動付与 and トラッキングリンク in a real browser at 375 px and 1280 px: an admin makes a
tracked link and a rule on its click, a friend clicks, and both pages show who and how often;
a rule missing its details is refused with the reason. (Every console page, these too, is
checked with axe by ``tests/console/test_browser.py``.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from messaging.compose import links
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup
from tests.idlink.support import tags_of
from tsunagu.hub import Hub


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_makes_a_link_and_a_rule_on_its_click_and_sees_who_clicked(
    chromium: Any,
    db: Database,
    hub: Hub,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    hanako = add_friend(db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子")
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("admin@example.jp")

    page.click("nav >> text=トラッキングリンク")
    page.wait_for_url("**/console/tracked-links")
    page.fill("#link-name", "春のメニュー")
    page.fill("#link-url", "https://salon.example/menu")
    page.fill("#link-tag", "menu")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=リンクを作成しました。")
    expect(page.locator("#link-placeholder")).to_have_value("{{ tracked:春のメニュー }}")
    link_url = page.url

    page.click("nav >> text=タグ自動付与")
    page.wait_for_url("**/console/tag-rules")
    page.fill("#rule-name", "メニュー既読")
    page.select_option("#rule-event", "no_purchase")
    page.fill("#rule-add", "dormant")
    page.click("form.stack button[type=submit]")
    alert = page.locator("p.error[role=alert]")
    expect(alert).to_contain_text("days")
    screen.shot("tag-rules-refused")

    page.select_option("#rule-event", "click")
    page.click("summary >> text=トラッキングリンクのクリック")
    page.select_option("#rule-link", "春のメニュー")
    page.fill("#rule-add", "menu-reader, 興味あり")
    page.fill("#rule-remove", "prospect")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=ルールを作成しました。これから起きる出来事に反応します。")
    assert (
        "トラッキングリンク「春のメニュー」をクリック"
        in page.locator(".rule-when").first.inner_text()
    )
    rule_url = page.url

    with db.session_scope() as session:
        link = links.find_link(session, shop_id=shop.id, name="春のメニュー")
        assert link is not None
        friend = session.get_one(Friend, hanako)
        url = links.personal_url(
            session, link=link, friend=friend, public_url=hub.settings.public_url
        )
    for _ in range(2):
        assert httpx.get(url, follow_redirects=False, timeout=10).status_code == 302

    assert {"menu", "menu-reader", "興味あり"} <= tags_of(db, hanako)
    page.goto(rule_url)
    expect(page.locator("table.routes-table tbody tr").first).to_contain_text("佐藤 花子")
    screen.shot("tag-rule")
    page.goto("/console/tag-rules")
    row = page.locator("tbody tr", has_text="メニュー既読")
    expect(row.locator("td").nth(3)).to_contain_text("1")
    screen.shot("tag-rules")
    page.goto(link_url)
    clicked = page.locator("table.routes-table tbody tr").first
    expect(clicked).to_contain_text("佐藤 花子")
    expect(clicked.locator("td").nth(1)).to_have_text("2")
    screen.shot("tracked-link")
    page.goto("/console/tracked-links")
    screen.shot("tracked-links")
    page.goto(f"/console/friends/{hanako}")
    assert "rule:メニュー既読" in page.locator(".timeline").inner_text()

    # The refused rule's page answers 400 (the browser logs it); nothing else went wrong.
    assert [e for e in screen.errors if "status of 400" not in e] == []
    screen.close()

"""A follow route in real browsers: an admin makes a route with a tag action in the console, a
LINE user opens its URL (the LIFF page, LINE's login, the add-friend screen of the sandbox LINE)
and adds the account; the admin sees the route and the tag on the new friend's chart, then
archives the route, whose URL then says it has ended. axe-core finds nothing serious on the
route pages."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from console.context import PREFIX
from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup
from tests.growth.support import friend_of, give_liff_app, wait_touches
from tests.waiting import wait_for


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_poster_route_brings_a_new_friend_who_is_tagged_and_seen_on_the_chart(
    chromium: Any,
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    give_liff_app(db, channel)
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    staff = Screen(chromium, hub_url, viewport, axe=True)
    page = staff.page
    staff.sign_in("admin@example.jp")
    page.click("nav >> text=流入経路")
    page.fill("#route-name", "駅のポスター")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=経路を作成しました")
    page.select_option("#kind-1", "tag")
    page.fill("#target-1", "ポスター")
    page.select_option("#when-1", "first")
    page.click("text=経路を保存")
    page.wait_for_selector("text=経路を保存しました。")
    qr = page.locator(".route-qr img")
    assert qr.evaluate("img => img.naturalWidth") > 0
    url = page.input_value("#route-url")
    staff.shot("route")

    name = f"Hanako {secrets.token_hex(3)}"
    user = line_sandbox.state.add_user(display_name=name)
    phone = Screen(chromium, hub_url, "phone")
    phone.page.goto(url)
    # Not logged in to LINE in this browser: LIFF sends the user to LINE's login first.
    phone.page.click(f"a >> text={name}")
    phone.page.wait_for_url(f"{line_sandbox.url}/R/ti/p/**")
    phone.page.click(f"button >> text=Add friend as {name}")
    phone.page.wait_for_selector("text=Friend added")
    assert phone.errors == [], phone.errors
    phone.close()

    friend = wait_for(lambda: friend_of(db, channel, user.user_id), what="the follow")
    wait_touches(db, friend.id, 1)
    page.goto(f"/console/friends/{friend.id}")
    profile = page.locator(".profile").inner_text()
    assert "駅のポスター" in profile
    expect(page.locator("#tags .chip", has_text="ポスター")).to_be_visible()
    staff.shot("route-friend-chart")
    page.goto("/console/routes")
    row = page.locator("tr", has_text="駅のポスター")
    assert row.locator("td").nth(1).inner_text() == "1"  # one visit
    assert row.locator("td").nth(2).inner_text() == "1"  # one new friend
    problems = staff.accessibility_problems()

    # The poster comes down: the route is archived, its URL says so, its report stays.
    row.locator("a").click()
    problems += staff.accessibility_problems()
    page.click("button >> text=アーカイブする")
    page.wait_for_selector("text=アーカイブ済み: 経路の一覧には表示されず", state="attached")
    assert page.locator(".route-totals").inner_text().split().count("1") >= 2
    staff.shot("route-archived")
    problems += staff.accessibility_problems()
    page.goto("/console/routes")
    assert page.locator("tr", has_text="駅のポスター").count() == 0
    page.click(f'a[href="{PREFIX}/routes?archived=true"]')
    expect(page.locator("tr", has_text="駅のポスター")).to_be_visible()
    problems += staff.accessibility_problems()
    late = Screen(chromium, hub_url, "phone", axe=True)
    assert late.page.goto(url).status == 410
    expect(late.page.locator("main")).to_contain_text("このQRコード・リンクの受付は終了しました。")
    late.shot("route-ended")
    problems += late.accessibility_problems()
    late.close()
    assert problems == []
    assert staff.errors == []
    staff.close()

"""タグ管理 in a real browser at 375 px and 1280 px: an admin creates a coloured tag in a folder,
puts it on a friend from the chart, sees the chip in its colour and the history on the
timeline, then deletes the tag after seeing how many friends carry it."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import PASSWORD, add_staff
from tests.console.test_browser import AXE, VIEWPORTS, Screen
from tests.factories import ChannelSetup


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_creates_a_coloured_tag_puts_it_on_a_friend_and_sees_its_history(
    chromium: Any,
    db: Database,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    hanako = add_friend(
        db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子", tags=("VIP",)
    )
    add_friend(db, channel.channel_pk, "U" + "2" * 32, display_name="鈴木 一郎", tags=("VIP",))
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("admin@example.jp")

    page.click("nav >> text=タグ管理")
    page.wait_for_url("**/console/tags")
    assert page.locator("h1").inner_text() == "タグ管理"
    page.fill("#new-name", "カラー常連")
    page.select_option("#new-colour", "purple")
    page.fill("#new-folder", "来店メニュー")
    page.click(".card .tag-form button[type=submit]")
    page.wait_for_selector("text=タグを作成しました。")
    folder = page.locator(".tag-folder", has_text="来店メニュー")
    expect(folder.locator(".chip.tag-purple")).to_have_text("カラー常連")
    assert "0 人" in folder.inner_text()
    assert "2 人" in page.locator(".tag-folder", has_text="フォルダなし").inner_text()
    screen.shot("tags")

    page.goto(f"/console/friends/{hanako}")
    page.fill("#new-tag", "カラー常連")
    page.click(".tag-add button")
    chip = page.locator("#tags .chip", has_text="カラー常連")
    expect(chip).to_have_class("chip tag-purple")
    colour = chip.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(240, 233, 255)"  # the palette's purple fill, not the default gray
    page.reload()
    latest = page.locator(".timeline .entry").first
    assert "タグ追加: カラー常連" in latest.inner_text()
    assert "staff:admin@example.jp" in latest.inner_text()
    screen.shot("chart-tag-history")

    page.goto("/console/tags")
    row = page.locator(".tag-list li", has_text="VIP")
    row.locator("summary").click()
    row.locator("a >> text=削除…").click()
    page.wait_for_selector("text=このタグが付いている友だちは 2 人です。")
    screen.shot("tag-delete")
    page.click("button.danger >> text=削除")
    page.wait_for_selector("text=タグを削除しました。")
    assert page.locator(".tag-list li", has_text="VIP").count() == 0
    page.goto(f"/console/friends/{hanako}")
    assert "タグ削除: VIP" in page.locator(".timeline .entry").first.inner_text()
    screen.shot("chart-tag-deleted")

    assert screen.errors == []
    screen.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_tag_pages_have_no_serious_or_critical_accessibility_violation(
    chromium: Any,
    db: Database,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("VIP",))
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    # axe-core (vendored, MPL-2.0) is injected by the test, so this page bypasses the CSP.
    context = chromium.new_context(
        viewport=VIEWPORTS[viewport], base_url=hub_url, locale="ja-JP", bypass_csp=True
    )
    page = context.new_page()
    page.goto("/console/login")
    page.fill("#email", "admin@example.jp")
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/console/friends")
    problems = []
    page.goto("/console/tags")
    page.locator(".tag-edit summary").first.click()  # the edit form open, too
    tag_id = page.locator(".tag-list li").first.get_attribute("id")
    for path in (None, f"/console/tags/{str(tag_id).removeprefix('tag-')}/delete"):
        if path:
            page.goto(path)
        page.add_script_tag(path=AXE)
        found = page.evaluate("async () => (await axe.run()).violations")
        problems += [
            f"{page.url}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}"
            for v in found
            if v["impact"] in ("serious", "critical")
        ]
    context.close()

    assert problems == []

"""メッセージテンプレート in a real browser at 375 px and 1280 px: an admin goes from the inbox
to the templates page, writes a template with a variable the shop does not have and is told
why nothing was saved, fixes it, previews it as a friend who wrote receives it, and deletes it
after confirming. axe-core finds nothing serious on any of these pages."""

from __future__ import annotations

from typing import Any

import pytest

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from inbox import conversations as inbox_conversations
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_writes_a_template_is_told_what_is_wrong_previews_it_and_deletes_it(
    chromium: Any,
    db: Database,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    hanako = add_friend(db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子")
    with db.session_scope() as session:
        friend = session.get_one(Friend, hanako)
        conversation = inbox_conversations.conversation_of(session, friend)
        inbox_conversations.note_incoming(session, conversation, at=utcnow())
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport, axe=True)
    page = screen.page
    screen.sign_in("admin@example.jp")
    problems: list[str] = []

    page.goto("/console/inbox")
    page.click(".inbox-head >> text=メッセージテンプレート")
    page.wait_for_url("**/console/inbox/templates")
    expect(page.locator("h1")).to_have_text("メッセージテンプレート")
    page.click("text=テンプレートを作成")
    page.fill("#template-name", "ご来店のお礼")
    page.fill(
        "#template-text-1", "{{ nickname }}様、{{ shop_name }}へのご来店ありがとうございました。"
    )
    page.fill("#template-text-2", "次回のご予約: {{ link:https://salon.example/booking }}")
    page.click("form.stack button[type=submit] >> text=保存")
    refusal = page.locator("#template-problem")
    expect(refusal).to_contain_text("使えない変数です: {{ nickname }}")
    expect(refusal).to_contain_text("保存していません")
    expect(page.locator("#template-text-2")).to_have_value(
        "次回のご予約: {{ link:https://salon.example/booking }}"
    )
    screen.shot("template-refused")
    problems += screen.accessibility_problems()

    page.fill(
        "#template-text-1",
        "{{ display_name }}様、{{ shop_name }}へのご来店ありがとうございました。",
    )
    page.click("form.stack button[type=submit] >> text=保存")
    expect(page.locator("[role=status]")).to_have_text("メッセージテンプレートを保存しました。")
    page.select_option("#preview-friend", str(hanako))
    page.click("text=プレビューを表示")
    bubbles = page.locator(".template-preview .bubble")
    expect(bubbles).to_have_count(2)
    expect(bubbles.first).to_have_text(
        f"佐藤 花子様、{shop.name}へのご来店ありがとうございました。"
    )
    expect(bubbles.nth(1)).to_have_text("次回のご予約: https://salon.example/booking")
    screen.shot("template-preview")
    problems += screen.accessibility_problems()

    page.goto("/console/inbox/templates")
    expect(page.locator(".template-item")).to_contain_text("ご来店のお礼")
    screen.shot("templates")
    problems += screen.accessibility_problems()
    page.click(".template-item a >> text=ご来店のお礼")
    page.click("text=テンプレート「ご来店のお礼」を削除…")
    expect(page.locator("h1")).to_have_text("メッセージテンプレート「ご来店のお礼」を削除しますか?")
    screen.shot("template-delete")
    problems += screen.accessibility_problems()
    page.click("button.danger >> text=削除")
    expect(page.locator("[role=status]")).to_have_text("メッセージテンプレートを削除しました。")
    expect(page.locator(".empty")).to_have_text("メッセージテンプレートはまだありません。")

    assert problems == []
    # The refused form is answered 422 on purpose; the browser logs that, and nothing else.
    assert [e for e in screen.errors if "status of 422" not in e] == []
    screen.close()

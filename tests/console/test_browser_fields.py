"""On a phone (and a desktop), in chromium: an operator fills in custom fields on a chart and
sends the friend a 1:1 message, which reaches the friend's LINE once."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours, wait_until_states


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_operator_edits_a_field_and_sends_a_message_on_a_phone_or_a_desktop(
    viewport: str,
    chromium: Any,
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        friend.display_name = "山田 さくら"
        for spec in (
            FieldDefinitionIn(key="hair", label="髪質", type="choice", choices=["直毛", "くせ毛"]),
            FieldDefinitionIn(
                key="likes",
                label="ご希望",
                type="choices",
                choices=["カット", "カラー", "ヘッドスパ"],
            ),
            FieldDefinitionIn(key="visits", label="来店回数", type="number"),
            FieldDefinitionIn(key="dm_ok", label="DM可", type="yes_no"),
        ):
            fields.define(session, shop_id=shop.id, spec=spec, actor="test")
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("operator@example.jp")
    page.goto(f"/console/friends/{friend_id}")
    screen.shot("chart-fields")

    page.select_option("#field-hair", "くせ毛")
    page.click("#fields form:has(#field-hair) button")
    expect(page.locator("#fields .saved")).to_have_text("保存しました")
    page.fill("#field-visits", "12")
    page.click("#fields form:has(#field-visits) button")
    expect(page.locator("#field-visits")).to_have_value("12")
    page.check("#fields label.check >> text=カラー")
    page.check("#fields label.check >> text=ヘッドスパ")
    page.click("#fields form:has(legend) button")
    expect(page.locator("#fields input[type=checkbox]:checked")).to_have_count(2)
    screen.shot("chart-fields-saved")

    assert "カウント対象: プッシュメッセージ" in page.inner_text("#message")
    page.fill("#message-text", "さくら様、次回はヘッドスパもいかがですか")
    page.dblclick("#message button")
    expect(page.locator("#message .notice")).to_contain_text("プッシュメッセージとして送りました")
    expect(page.locator("#message-text")).to_have_value("")
    screen.shot("chart-message-sent")
    wait_until_states(db, {"sent": 1}, source="staff:operator@example.jp")

    page.reload()
    timeline = page.inner_text(".timeline")
    assert "髪質: くせ毛" in timeline and "来店回数: 12" in timeline
    assert "1:1メッセージを送信" in timeline
    screen.shot("chart-fields-timeline")
    assert [m.message["text"] for m in line_sandbox.state.inbox(user_id)] == [
        "さくら様、次回はヘッドスパもいかがですか"
    ]
    assert screen.errors == []
    screen.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_defines_a_choice_field_on_the_fields_page(
    viewport: str, chromium: Any, db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("admin@example.jp")
    page.click("nav >> text=友だち情報")
    page.fill("#field-key", "size")
    page.fill("#field-label", "サイズ")
    page.select_option("#field-type", "choice")
    page.fill("#field-choices", "S\nM\nL")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector(".fields-table >> text=サイズ")
    assert "S, M, L" in page.inner_text(".fields-table") and "単一選択" in page.inner_text(
        ".fields-table"
    )
    screen.shot("fields")
    assert screen.errors == []
    screen.close()

"""自動応答 in a real browser at 375 px and 1280 px: an admin writes a rule in the editor, is
told it overlaps another when saving, adds a FAQ entry in several wordings, and the tester says
which answers a message and why; a hostile pattern is refused with the form kept."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.autoreply.support import add_rule
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_writes_a_rule_and_a_faq_entry_and_tries_messages(
    chromium: Any,
    db: Database,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, name="予約全般", match="contains", pattern="予約", priority=10)
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("admin@example.jp")

    page.click("nav >> text=自動応答")
    page.click("text=ルールを追加")
    page.fill("#rule-name", "キャンセル")
    page.select_option("#rule-match", "regex")
    page.fill("#rule-pattern", "(a|aa)+$")
    page.fill("#rule-reply", "キャンセルはこちらから承ります")
    page.click("button >> text=ルールを保存")
    assert "backtracks catastrophically" in page.inner_text(".error")
    assert page.locator("#rule-reply").input_value() == "キャンセルはこちらから承ります"
    screen.shot("autoreply-refused")
    screen.errors.clear()  # the refusal's own 400, which chromium logs

    page.select_option("#rule-match", "contains")
    page.fill("#rule-pattern", "予約のキャンセル")
    page.fill("#rule-priority", "50")
    page.click("button >> text=ルールを保存")
    page.wait_for_url("**/console/auto-replies?saved=*")
    assert "重複: 予約全般" in page.inner_text(".warning")
    screen.shot("autoreply-rules")

    page.click(".tabs >> text=FAQ")
    page.fill("#faq-name", "駐車場")
    page.fill("#faq-questions", "駐車場はありますか\n車で行けますか")
    page.fill("#faq-answer", "店舗の裏に5台分あります。")
    page.click("button >> text=FAQを保存")
    page.wait_for_url("**/console/auto-replies/faq?done=saved")
    assert "駐車場はありますか / 車で行けますか" in page.inner_text(".rule-list")
    screen.shot("autoreply-faq")

    page.click(".tabs >> text=テスター")
    page.fill("#try-text", "予約のキャンセルをしたい")
    page.click("button >> text=試す")
    assert "応答: rule:キャンセル" in page.inner_text(".verdict")
    assert "一致するルール" not in page.inner_text(".verdicts")
    assert "一致しますが、優先度の高いルールが応答します。" in page.inner_text(".verdicts")
    screen.shot("autoreply-tester-rule")

    page.fill("#try-text", "駐車場ありますか")
    page.click("button >> text=試す")
    assert "応答: faq:駐車場" in page.inner_text(".verdict")
    assert "店舗の裏に5台分あります。" in page.inner_text(".verdict .reply")
    screen.shot("autoreply-tester-faq")
    assert screen.errors == []
    screen.close()

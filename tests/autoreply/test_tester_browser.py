"""The auto-reply tester in a real browser: staff type a message, test it as a chosen friend (their
tags count) or as anyone, and read which rule or FAQ entry answers and why — priority, hours,
tag, score — in Japanese, then in English once they switch."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.autoreply.support import PARKING_FAQ, add_faq, add_rule, text
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.console.test_media_browser import axe_problems
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for


def _friend_who_wrote(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> int:
    """佐藤 花子 follows and says hello: a friend with a conversation, as the tester offers."""
    user = line_sandbox.state.add_user(display_name="佐藤 花子")
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(user.user_id, "こんにちは", channel_id=channel.channel_id)

    def friend_with_conversation() -> int | None:
        with db.session_scope() as session:
            friend_id = session.scalar(select(Friend.id).where(Friend.line_user_id == user.user_id))
        return friend_id if friend_id and conversation_id_of(db, friend_id) else None

    return wait_for(friend_with_conversation, what="花子's conversation")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_tester_says_why_as_a_chosen_friend_in_the_staffs_language(
    chromium: Any,
    hub_url: str,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    open_all_hours(db, channel)
    # Lunch bookings are taken one minute a day, six hours from now: not now, whenever this runs.
    lunch = datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(hours=6)
    with db.session_scope() as session:
        add_rule(
            session,
            channel,
            name="VIP予約",
            match="contains",
            pattern="予約",
            priority=50,
            conditions={"tags": ["VIP"]},
            actions={"reply": text("VIP様専用の窓口をご案内します")},
        )
        add_rule(
            session,
            channel,
            name="ランチ予約",
            match="contains",
            pattern="予約",
            priority=80,
            schedule={
                "start": f"{lunch:%H:%M}",
                "end": f"{lunch + timedelta(minutes=1):%H:%M}",
            },
            actions={"reply": text("ランチのご予約はこちら")},
        )
        add_rule(
            session,
            channel,
            name="予約全般",
            match="contains",
            pattern="予約",
            priority=10,
            actions={"reply": text("ご予約はこちらから")},
        )
        add_faq(session, channel, PARKING_FAQ)
    friend_id = _friend_who_wrote(db, line_sandbox, channel)
    add_staff(db, shop, "aoi@example.jp", Role.ADMIN)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("aoi@example.jp")
    page.goto("/console/auto-replies/try")

    # As anyone: every condition is taken as met, so the VIP rule answers.
    page.fill("#try-text", "予約したいです")
    page.click("button >> text=試す")
    expect(page.locator(".verdict .fires")).to_contain_text("rule:VIP予約")
    assert "条件はすべて満たすものとして" in page.inner_text(".tried-as")
    verdicts = page.locator(".verdicts li")
    assert "応答します: 「予約」を含む・優先度 50" in verdicts.nth(1).inner_text()
    assert "応答する曜日・時間帯の外です" in verdicts.nth(0).inner_text()  # ランチ予約, 80
    assert "優先度の高いルールが応答します" in verdicts.nth(2).inner_text()
    screen.shot("autoreply-tester-anyone")

    # As 花子, who has no VIP tag: the general rule answers, and the page says why.
    page.select_option("#try-friend", str(friend_id))
    page.click("button >> text=試す")
    expect(page.locator(".verdict .fires")).to_contain_text("rule:予約全般")
    assert "佐藤 花子 さんとしてテスト" in page.inner_text(".tried-as")
    assert "タグ: なし" in page.inner_text(".tried-as")
    assert "友だちにタグ「VIP」がありません。" in verdicts.nth(1).inner_text()
    assert "応答します: 「予約」を含む・優先度 10" in verdicts.nth(2).inner_text()
    assert page.locator("#try-friend").input_value() == str(friend_id)
    screen.shot("autoreply-tester-as-friend")

    page.fill("#try-text", "駐車場ありますか")
    page.click("button >> text=試す")
    expect(page.locator(".verdict .fires")).to_contain_text("faq:駐車場")
    assert "駐車場はありますか" in page.inner_text(".verdicts >> nth=1")

    page.goto("/console/account")
    page.select_option("#locale", "en")
    page.click("form.row button")
    page.wait_for_selector("h1 >> text=Account")
    page.goto(f"/console/auto-replies/try?friend={friend_id}&text=予約したいです")
    assert "Tested as 佐藤 花子" in page.inner_text(".tried-as")
    assert "The friend does not have the tag “VIP”." in verdicts.nth(1).inner_text()
    assert "Outside its days and hours" in verdicts.nth(0).inner_text()
    assert "Answers: contains “予約”; priority 10;" in verdicts.nth(2).inner_text()
    screen.shot("autoreply-tester-english")
    assert screen.errors == []
    screen.close()
    # The tester's answers, as anyone and as 花子 (who has every kind of reason): axe-clean.
    for query in ("text=予約したいです", f"text=予約したいです&friend={friend_id}"):
        assert axe_problems(chromium, hub_url, viewport, f"/console/auto-replies/try?{query}") == []

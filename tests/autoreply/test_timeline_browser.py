"""An auto-reply as staff see it: labelled 自動応答 in the conversation, live on a page already
open; it is not a staff answer, so the conversation stays 未対応 and a colleague's reply being
typed is not held back as a conflict; the rules page counts each rule's answers."""

from __future__ import annotations

from typing import Any

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.autoreply.support import save_rule, text
from tests.console.support import add_staff
from tests.console.test_browser import Screen
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for


def test_an_auto_reply_shows_labelled_and_leaves_the_answer_to_staff(
    chromium: Any,
    hub_url: str,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    open_all_hours(db, channel)
    save_rule(
        db, channel, name="営業時間", actions={"reply": text("10時から19時まで営業しています")}
    )
    save_rule(
        db,
        channel,
        name="駐車場",
        match="contains",
        pattern="駐車場",
        actions={"reply": text("裏に5台分あります")},
    )
    ((friend_id, user_id), (other_id, other_user)) = add_followers(
        db, line_sandbox.state, channel, 2
    ).items()
    add_staff(db, shop, "aoi@example.jp", Role.ADMIN)
    say = line_sandbox.simulate.send_text
    say(user_id, "こんにちは、質問があります", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    screen = Screen(chromium, hub_url, "phone")
    page = screen.page
    screen.sign_in("aoi@example.jp")
    page.goto(f"/console/inbox/conversations/{conversation}")
    page.fill("#reply-text", "ご質問をどうぞ")  # typed before the friend's next message

    say(user_id, "営業時間", channel_id=channel.channel_id)
    auto = page.locator(".timeline .bubble.delivery", has_text="10時から19時まで営業しています")
    expect(auto).to_have_count(1)
    expect(auto.locator(".source")).to_have_text("自動応答")
    expect(page.locator("#status-badge")).to_have_text("未対応")
    assert page.locator("#reply-text").input_value() == "ご質問をどうぞ"
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the auto-reply")
    assert line_sandbox.state.inbox(user_id)[0].endpoint == "replyMessage"
    screen.shot("inbox-auto-reply")

    # Not a conflict: the staff answer goes (free, with the token of the friend's first message).
    page.click("#composer button >> text=送信")
    page.wait_for_url("**sent=free**")
    assert page.locator("#conflict").count() == 0
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the staff answer")
    expect(page.locator("#status-badge")).to_have_text("対応中")

    say(other_user, "営業時間", channel_id=channel.channel_id)
    say(other_user, "駐車場はありますか", channel_id=channel.channel_id)
    wait_for(lambda: len(line_sandbox.state.inbox(other_user)) == 2, what="two auto-replies")
    assert other_id != friend_id
    page.goto("/console/auto-replies")
    hours = page.locator(".rule-card", has_text="営業時間")
    parking = page.locator(".rule-card", has_text="駐車場")
    expect(hours).to_contain_text("応答回数: 2")
    expect(parking).to_contain_text("応答回数: 1")
    screen.shot("autoreply-hits")
    assert screen.errors == []
    screen.close()

"""Two staff members answer the same conversation at once, each in their own browser: the
first reply goes (free, with the friend's reply token) and shows at once on the other's open
page; the second is warned with what was sent and nothing more reaches the friend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.db import Database
from core.tenancy import Shop
from messaging.outbox.models import Delivery
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import Screen
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for


def _deliveries(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def test_the_second_of_two_staff_answering_at_once_is_warned_and_the_friend_gets_one_reply(
    chromium: Any,
    hub_url: str,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ren@example.jp", Role.OPERATOR)
    line_sandbox.simulate.send_text(
        user_id, "今日の17時に予約できますか", channel_id=channel.channel_id
    )
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    aoi, ren = Screen(chromium, hub_url, "phone"), Screen(chromium, hub_url, "desktop")
    for screen, email in ((aoi, "aoi@example.jp"), (ren, "ren@example.jp")):
        screen.sign_in(email)
        screen.page.goto(f"/console/inbox/conversations/{conversation}")
        expect(screen.page.locator(".timeline")).to_contain_text("今日の17時に予約できますか")
        assert "無料" in screen.page.inner_text("#composer")

    aoi.page.fill("#reply-text", "はい、17時にお取りできます")
    ren.page.fill("#reply-text", "申し訳ありません、17時は埋まっています")
    aoi.page.click("#composer button >> text=送信")
    aoi.page.wait_for_url("**sent=free**")
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="Aoi's reply")
    aoi.shot("inbox-replied")
    # Ren's open page hears of it (server-sent events) while his own answer is still typed.
    expect(ren.page.locator(".timeline")).to_contain_text("はい、17時にお取りできます")
    assert ren.page.locator("#reply-text").input_value() == "申し訳ありません、17時は埋まっています"
    ren.page.click("#composer button >> text=送信")

    warning = ren.page.locator("#conflict")
    expect(warning).to_contain_text("入力中に他のスタッフが返信しました")
    expect(warning).to_contain_text("はい、17時にお取りできます")
    expect(warning).to_contain_text("staff:aoi@example.jp")
    ren.shot("inbox-conflict")
    assert _deliveries(db) == 1
    assert [m.message["text"] for m in line_sandbox.state.inbox(user_id)] == [
        "はい、17時にお取りできます"
    ]

    ren.page.goto(f"/console/inbox/conversations/{conversation}")
    expect(ren.page.locator(".timeline")).to_contain_text("はい、17時にお取りできます")
    assert _deliveries(db) == 1
    # The warning page answers 409 (Conflict), which the browser logs; nothing else failed.
    assert aoi.errors == [] and [e for e in ren.errors if "409" not in e] == []
    aoi.close()
    ren.close()

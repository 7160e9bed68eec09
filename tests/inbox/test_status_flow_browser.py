"""One conversation in a real browser, as staff live it: the image a friend sent shows (and
loads) in the conversation; staff take it (対応中) and close it (対応済み); the friend writes
again and the page left open shows it reopened (未対応) without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from idlink.media.models import Media, MediaState
from idlink.models import Friend
from inbox.models import Conversation
from sandbox.line.contents import sample_png
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.console.test_media_browser import axe_problems
from tests.factories import ChannelSetup
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for


def _conversation_with_stored_image(db: Database, user_id: str) -> int | None:
    """The friend's conversation id once the image they sent is kept (its content fetched)."""
    with db.session_scope() as session:
        found = session.execute(
            select(Conversation.id, Media.state)
            .join(Friend, Friend.id == Conversation.friend_id)
            .join(Media, Media.friend_id == Friend.id)
            .where(Friend.line_user_id == user_id)
        ).first()
    return found.id if found is not None and found.state == MediaState.STORED else None


def _status(db: Database, conversation_id: int) -> str:
    with db.session_scope() as session:
        return session.get_one(Conversation, conversation_id).status


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_image_shows_and_a_closed_conversation_reopens_live_when_the_friend_writes(
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
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    user = line_sandbox.state.add_user(display_name="佐藤 花子")
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(
        user.user_id, "この色の在庫はありますか", channel_id=channel.channel_id
    )
    line_sandbox.simulate.send_media(
        user.user_id,
        "image",
        data=sample_png(480, 320, (30, 120, 200)),
        channel_id=channel.channel_id,
    )
    conversation = wait_for(
        lambda: _conversation_with_stored_image(db, user.user_id), what="the image kept"
    )
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("aoi@example.jp")
    page.goto(f"/console/inbox/conversations/{conversation}")
    expect(page.locator("#status-badge")).to_have_text("未対応")
    image = page.locator(".timeline img.media")
    image.scroll_into_view_if_needed()
    loaded = page.wait_for_function(
        "() => document.querySelector('.timeline img.media').naturalWidth"
    )
    assert loaded.json_value() == 480
    screen.shot("inbox-image")

    for status, shown in (("open", "対応中"), ("resolved", "対応済み")):
        page.select_option("#status", status)
        page.click("button >> text=ステータスを保存")
        expect(page.locator("#status-badge")).to_have_text(shown)
        assert _status(db, conversation) == status
    screen.shot("inbox-resolved")

    # The page stays open; the friend writes again and the hub tells it (server-sent events).
    line_sandbox.simulate.send_text(
        user.user_id, "もう一つ質問があります", channel_id=channel.channel_id
    )
    expect(page.locator(".timeline")).to_contain_text("もう一つ質問があります")
    expect(page.locator("#status-badge")).to_have_text("未対応")
    expect(page.locator(".timeline")).to_contain_text("状態: 対応済み → 未対応")
    assert _status(db, conversation) == "new"
    screen.shot("inbox-reopened")

    page.goto("/console/inbox")
    expect(page.locator("main")).to_contain_text("もう一つ質問があります")
    assert screen.errors == []
    screen.close()
    # The conversation as it now reads (an image, status changes, a reopening): axe-clean.
    path = f"/console/inbox/conversations/{conversation}"
    assert axe_problems(chromium, hub_url, viewport, path) == []

"""Bulk-tagging 2,000 friends from the list on a phone (375 px), its progress bar polled by htmx
until the job is done. Screenshots go beside the other console pages'."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, text

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink import friends
from idlink.models import Friend, FriendStatus
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import Screen
from tests.console.test_friend_list import tagged
from tests.factories import ChannelSetup

FRIENDS = 2_000


@contextmanager
def held_tagging(db: Database) -> Iterator[bool]:
    """On PostgreSQL, hold the worker's first batch back (a lock on ``friend_tags`` that lets
    pages read) so the running state can be seen; elsewhere the job runs as it comes."""
    if db.engine.dialect.name != "postgresql":
        yield False
        return
    with db.engine.connect() as connection, connection.begin():
        connection.execute(text("LOCK TABLE friend_tags IN EXCLUSIVE MODE"))
        yield True


def test_an_operator_bulk_tags_two_thousand_friends_on_a_phone_and_watches_the_progress(
    chromium: Any, db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    from playwright.sync_api import expect

    rows = [
        {
            "shop_id": shop.id,
            "channel_id": channel.channel_pk,
            "line_user_id": f"U{n:032x}",
            "status": FriendStatus.FOLLOWED,
            "display_name": f"お客様 {n}",
            "last_followed_at": utcnow(),
            "created_at": utcnow(),
        }
        for n in range(FRIENDS + 1)
    ]
    with db.session_scope() as session:
        session.execute(insert(Friend), rows)
        blocked = session.query(Friend).filter(Friend.line_user_id == f"U{FRIENDS:032x}").one()
        blocked.status = FriendStatus.BLOCKED
        friends.add_tag(session, friend=blocked, name="休眠", source="test")
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    screen = Screen(chromium, hub_url, "phone")
    page = screen.page
    screen.sign_in("operator@example.jp")

    page.select_option("#status", "followed")
    expect(page.locator("#results .count")).to_have_text("2,000 人")
    screen.shot("friends-filtered")
    page.click("#bulk summary")
    page.fill("#bulk-tag", "年末セール")
    screen.shot("friends-bulk-form")
    with held_tagging(db) as held:
        page.click("#bulk button[value=add_tag]")
        page.wait_for_url("**/console/friends/bulk/*")
        bar = page.locator("#bulk-progress")
        assert bar.get_attribute("max") == str(FRIENDS)
        if held:
            expect(page.locator("#progress .muted")).to_contain_text("実行中")
            assert page.locator("#progress[hx-trigger]").count() == 1  # htmx polls it
        screen.shot("friends-bulk-progress")

    expect(page.locator("#progress .notice")).to_have_text(
        "完了: 2,000 人を変更しました。", timeout=30_000
    )
    assert bar.get_attribute("value") == str(FRIENDS)
    assert page.locator("#progress[hx-trigger]").count() == 0  # polling stopped when done
    screen.shot("friends-bulk-done")
    page.click("text=一覧に戻る")
    page.wait_for_url("**/console/friends?*status=followed*")

    assert len(tagged(db, "年末セール")) == FRIENDS
    assert screen.errors == []
    screen.close()

    desktop = Screen(chromium, hub_url, "desktop")
    desktop.sign_in("operator@example.jp")
    desktop.page.goto("/console/friends?status=followed&tags_any=年末セール&sort=display_name")
    assert desktop.page.locator("details.more[open]").count() == 1  # a filter of it is set
    desktop.page.click("#bulk summary")
    expect(desktop.page.locator("#results .count")).to_have_text("2,000 人")
    desktop.shot("friends-filters")
    assert desktop.errors == []
    desktop.close()

"""On a phone (and a desktop), in chromium: an operator narrows the friends list by follow
route and by a custom field condition from 詳しい絞り込み, and the count follows."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from idlink.models import Friend
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.console.test_browser import VIEWPORTS, Screen
from tests.factories import ChannelSetup
from tests.messaging.people import set_friend


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_operator_filters_by_follow_route_and_a_custom_field(
    viewport: str, chromium: Any, db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    from playwright.sync_api import expect

    made = [
        add_friend(db, channel.channel_pk, f"U{n:032x}", display_name=name)
        for n, name in enumerate(("佐藤 花子", "鈴木 一郎", "高橋 美咲"))
    ]
    with db.session_scope() as session:
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="visits", label="来店回数", type=FieldType.NUMBER),
            actor="t",
        )
        for friend_id, visits in zip(made, ("5", "1", "8"), strict=True):
            friend = session.get_one(Friend, friend_id)
            fields.set_value(session, friend=friend, key="visits", value=visits, actor="t")
    for friend_id in made[:2]:
        set_friend(db, friend_id, follow_route="店頭QR")
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("operator@example.jp")

    page.click("summary >> text=詳しい絞り込み")
    page.select_option("#follow_route", "店頭QR")
    expect(page.locator("#results .count")).to_have_text("2 人")
    page.select_option("#field_condition", "visits:gte")
    page.fill("#field_value", "3")
    page.press("#field_value", "Enter")
    expect(page.locator("#results .count")).to_have_text("1 人")
    expect(page.locator(".friend-row")).to_contain_text(["佐藤 花子"])
    assert "field_condition=visits%3Agte" in page.url and "follow_route=" in page.url
    screen.shot("friends-field-filter")

    page.fill("#field_value", "たくさん")
    page.press("#field_value", "Enter")
    expect(page.locator("#results [role=alert]")).to_contain_text("合いません")
    expect(page.locator("#results .count")).to_have_text("0 人")

    assert screen.errors == []
    screen.close()

"""The console's defences: CSRF, session fixation, roles on every change, shops kept apart."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from idlink.models import FriendTag
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import add_friend, add_link, add_member
from tests.console.support import Browser, add_staff, csrf_of
from tests.factories import ChannelSetup, make_channel, make_shop


def user_id(n: int) -> str:
    return f"U{n:032x}"


def test_a_form_without_the_sessions_csrf_token_is_refused(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1))
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ken@example.jp", Role.OPERATOR)
    aoi, ken = Browser(hub_url), Browser(hub_url)
    aoi.sign_in("aoi@example.jp")
    ken.sign_in("ken@example.jp")
    kens_token = csrf_of(ken.get(f"/console/friends/{friend_id}").text)

    missing = aoi.post(f"/console/friends/{friend_id}/tags", {"name": "vip"})
    foreign = aoi.post(
        f"/console/friends/{friend_id}/tags", {"name": "vip", "csrf_token": kens_token}
    )
    sign_in_without = Browser(hub_url).post(
        "/console/login", {"email": "aoi@example.jp", "password": "x"}
    )

    assert missing.status_code == foreign.status_code == sign_in_without.status_code == 403
    assert "フォームの有効期限が切れている" in missing.text
    with db.session_scope() as session:
        assert session.scalars(select(FriendTag)).all() == []


def test_the_session_id_changes_at_sign_in_and_a_planted_one_opens_nothing(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    attacker = Browser(hub_url)
    attacker.sign_in("aoi@example.jp")
    planted = attacker.client.cookies["tsunagu_console"]
    victim = Browser(hub_url)
    victim.client.cookies.set("tsunagu_console", planted, domain="127.0.0.1", path="/console")

    victim.sign_in("aoi@example.jp")

    assert victim.client.cookies["tsunagu_console"] != planted
    assert victim.get("/console/friends").status_code == 200
    assert attacker.get("/console/friends").status_code == 303  # the planted session ended


def test_a_viewer_reads_but_cannot_tag(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子")
    add_staff(db, shop, "view@example.jp", Role.VIEWER)
    viewer = Browser(hub_url)
    viewer.sign_in("view@example.jp")

    chart = viewer.get(f"/console/friends/{friend_id}")
    refused = viewer.submit(
        f"/console/friends/{friend_id}", f"/console/friends/{friend_id}/tags", {"name": "vip"}
    )

    assert chart.status_code == 200 and "佐藤 花子" in chart.text
    assert 'name="name" required' not in chart.text  # no tag form for a viewer
    assert refused.status_code == 403
    assert "「オペレーター」以上の権限が必要です" in refused.text and "「閲覧者」" in refused.text
    with db.session_scope() as session:
        assert session.scalars(select(FriendTag)).all() == []
        assert session.scalars(select(AuditLog.action)).all() == ["staff.signed_in"]


def test_staff_of_one_shop_see_nothing_of_another_through_any_console_url(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup, line_sandbox: SandboxServer
) -> None:
    other_shop = make_shop(db)
    other_channel = make_channel(db, line_sandbox, hub_url, other_shop)
    theirs = add_friend(
        db, other_channel.channel_pk, user_id(9), display_name="他店 太郎", tags=("secret",)
    )
    add_link(db, other_shop.id, theirs, add_member(db, other_shop.id, "B-1"))
    ours = add_friend(db, channel.channel_pk, user_id(1), display_name="自店 花子")
    add_staff(db, shop, "aoi@example.jp", Role.OWNER)
    add_staff(db, other_shop, "other@example.jp", Role.OWNER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    listing = browser.get("/console/friends")
    by_number = browser.get("/console/friends", params={"q": "B-1"})
    by_tag = browser.get("/console/friends", params={"tag": "secret"})
    chart = browser.get(f"/console/friends/{theirs}")
    older = browser.get(f"/console/friends/{theirs}?cursor=x")
    tag = browser.submit(
        f"/console/friends/{ours}", f"/console/friends/{theirs}/tags", {"name": "x"}
    )
    untag = browser.submit(
        f"/console/friends/{ours}", f"/console/friends/{theirs}/tags/remove", {"name": "secret"}
    )
    switch = browser.submit("/console/friends", "/console/shop", {"shop_id": str(other_shop.id)})

    assert "自店 花子" in listing.text and "他店 太郎" not in listing.text
    assert "他店 太郎" not in by_number.text and "他店 太郎" not in by_tag.text
    assert "secret" not in listing.text  # not even the other shop's tag names
    assert chart.status_code == older.status_code == tag.status_code == untag.status_code == 404
    assert switch.status_code == 404
    with db.session_scope() as session:
        assert len(session.scalars(select(FriendTag)).all()) == 1


def test_staff_limited_to_one_channel_see_only_its_friends(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup, line_sandbox: SandboxServer
) -> None:
    second = make_channel(db, line_sandbox, hub_url, shop)
    here = add_friend(db, channel.channel_pk, user_id(1), display_name="銀座 花子")
    there = add_friend(db, second.channel_pk, user_id(2), display_name="梅田 一郎")
    add_staff(db, shop, "ginza@example.jp", Role.OPERATOR, channel_ids=[channel.channel_id])
    browser = Browser(hub_url)
    browser.sign_in("ginza@example.jp")

    listing = browser.get("/console/friends")

    assert "銀座 花子" in listing.text and "梅田 一郎" not in listing.text
    assert browser.get(f"/console/friends/{here}").status_code == 200
    assert browser.get(f"/console/friends/{there}").status_code == 404


@pytest.mark.parametrize("path", ["/console/login", "/console/friends", "/console/nowhere"])
def test_console_responses_carry_the_security_headers(
    db: Database, hub_url: str, shop: Shop, path: str
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    response = browser.get(path)

    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text and "style=" not in response.text


def test_an_unknown_console_page_is_a_404_page_in_the_staff_members_language(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    japanese = browser.get("/console/friends/999999")
    browser.submit("/console/account", "/console/account/language", {"locale": "en"})
    english = browser.get("/console/friends/999999")

    assert japanese.status_code == 404 and "見つかりません" in japanese.text
    assert english.status_code == 404 and "Not found" in english.text


@pytest.mark.parametrize("friend_id", ["9223372036854775808", "2147483648", "0", "abc"])
def test_a_friend_id_no_row_can_have_is_an_error_page_not_a_500(
    db: Database, hub_url: str, shop: Shop, friend_id: str
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    page = browser.get(f"/console/friends/{friend_id}")

    assert 400 <= page.status_code < 500, page.status_code
    assert "<html" in page.text.lower()

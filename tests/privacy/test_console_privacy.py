"""Export and erasure from the customer chart, for owners only: the archive downloads, and
erasing asks for the member number or the name typed, is audited, and leaves the erased state."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend, FriendStatus
from staff.models import Role
from tests.api.admin_support import add_friend, add_link, add_member
from tests.console.support import PASSWORD, Browser, add_staff, csrf_of
from tests.factories import ChannelSetup
from tests.privacy.support import find, left_after_erasure

NAME = "山田 花子"
EMAIL = "hanako.yamada@example.jp"
PHONE = "090-1234-5678"
USER_ID = "U" + "a1" * 16
NEEDLES = (NAME, EMAIL, "09012345678", "+819012345678", USER_ID)


@pytest.fixture
def hanako(db: Database, shop: Shop, channel: ChannelSetup) -> int:
    friend_id = add_friend(db, channel.channel_pk, USER_ID, display_name=NAME, tags=("VIP",))
    member_id = add_member(db, shop.id, "M-3001", name=NAME, email=EMAIL, phone=PHONE)
    add_link(db, shop.id, friend_id, member_id)
    add_staff(db, shop, "owner@example.jp", Role.OWNER)
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    return friend_id


def signed_in(hub_url: str, email: str) -> Browser:
    browser = Browser(hub_url)
    assert browser.sign_in(email).status_code == 303
    return browser


def _audit(db: Database, action: str) -> list[AuditLog]:
    with db.session_scope() as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_only_an_owner_sees_and_may_use_export_and_erase(
    db: Database, hub_url: str, hanako: int
) -> None:
    admin = signed_in(hub_url, "admin@example.jp")
    owner = signed_in(hub_url, "owner@example.jp")

    admin_chart = admin.get(f"/console/friends/{hanako}")
    owner_chart = owner.get(f"/console/friends/{hanako}")

    assert admin_chart.status_code == 200 and "データを書き出す" not in admin_chart.text
    assert "データを書き出す" in owner_chart.text and f"/friends/{hanako}/erase" in owner_chart.text
    assert admin.get(f"/console/friends/{hanako}/export").status_code == 403
    assert admin.get(f"/console/friends/{hanako}/erase").status_code == 403
    refused = admin.post(
        f"/console/friends/{hanako}/erase",
        {"csrf_token": csrf_of(admin_chart.text), "confirmation": "M-3001"},
    )
    assert refused.status_code == 403
    assert find(db, NEEDLES) != {}


def test_an_owner_downloads_the_friends_archive_and_it_is_audited(
    db: Database, hub_url: str, hanako: int
) -> None:
    owner = signed_in(hub_url, "owner@example.jp")

    response = owner.get(f"/console/friends/{hanako}/export")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="friend-{hanako}.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        person = json.loads(archive.read("person.json"))
        assert "members.csv" in archive.namelist()
    [member] = person["members"]
    assert member["email"] == EMAIL and member["name"] == NAME
    [entry] = _audit(db, "privacy.exported")
    assert entry.actor == "staff:owner@example.jp" and entry.detail["ip"] == "127.0.0.1"


def test_erasing_wants_the_member_number_or_name_typed_then_leaves_nothing_that_names_them(
    db: Database, hub_url: str, hanako: int
) -> None:
    owner = signed_in(hub_url, "owner@example.jp")
    chart = f"/console/friends/{hanako}"
    # Staff wrote about her through the console: the note and its audit copy must go too.
    noted = owner.submit(chart, f"{chart}/notes", {"body": f"連絡先 {EMAIL} / {PHONE}"})
    assert noted.status_code == 303

    wrong = owner.submit(f"{chart}/erase", f"{chart}/erase", {"confirmation": "M-9999"})

    assert wrong.status_code == 422
    assert "一致しません" in wrong.text
    assert _audit(db, "privacy.erased") == []

    done = owner.submit(f"{chart}/erase", f"{chart}/erase", {"confirmation": " M-3001 "})

    assert done.status_code == 303 and done.headers["location"].startswith(chart)
    assert left_after_erasure(db, NEEDLES) == {}
    [entry] = _audit(db, "privacy.erased")
    assert entry.actor == "staff:owner@example.jp" and entry.detail["ip"] == "127.0.0.1"
    assert entry.detail["counts"]["friends"] == 1 and entry.detail["counts"]["notes"] == 1
    after = owner.get(chart)
    assert after.status_code == 200
    assert "消去済み" in after.text and "個人データは消去されました" in after.text
    assert "データを書き出す" not in after.text
    with db.session_scope() as session:
        assert session.get_one(Friend, hanako).status == FriendStatus.ERASED


@pytest.mark.parametrize("width", [375, 1280])
def test_an_owner_exports_then_erases_in_a_browser(
    db: Database, hub_url: str, hanako: int, chromium: Any, width: int
) -> None:
    context = chromium.new_context(
        viewport={"width": width, "height": 812},
        base_url=hub_url,
        locale="ja-JP",
        accept_downloads=True,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/console/friends")
    page.fill("#email", "owner@example.jp")
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/console/friends")
    page.goto(f"/console/friends/{hanako}")
    page.locator("#privacy").scroll_into_view_if_needed()
    page.screenshot(path=f"/tmp/privacy-chart-{width}.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="データを書き出す").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert "person.json" in archive.namelist()

    page.get_by_role("link", name="消去", exact=True).click()
    page.wait_for_url(f"**/console/friends/{hanako}/erase")
    page.locator("#confirmation").fill(NAME)
    page.screenshot(path=f"/tmp/privacy-erase-{width}.png", full_page=True)
    page.get_by_role("button", name="この方のデータを消去する").click()
    page.wait_for_url(f"**/console/friends/{hanako}?erased=1")
    page.get_by_text("この友だちの個人データは消去されました").wait_for()
    page.screenshot(path=f"/tmp/privacy-erased-{width}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    context.close()

    assert scroll_width <= width
    assert left_after_erasure(db, NEEDLES) == {}
    assert errors == []

"""A form in real browsers: an admin builds a survey in the console (the phone preview follows
the builder), a LINE friend answers it on its LIFF page at 375 px (the page refuses a bad answer
with the server's message before sending), and the admin sees the mapped field, the choice's
tags and the answers on the friend's chart, and the funnel on the results page."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import AXE, VIEWPORTS, Screen
from tests.console.test_media_browser import axe_problems
from tests.factories import ChannelSetup
from tests.growth.forms_support import define_text_field, field_of, submissions_of
from tests.growth.support import give_liff_app
from tests.idlink.support import befriend, tags_of
from tests.waiting import wait_for

ADMIN = "admin@example.jp"


def _build(page: Any) -> None:
    """The survey as an admin builds it: a choice with tags, katakana to a field, consent."""
    page.fill("#form-name", "来店前アンケート")
    page.fill("#form-title", "ご来店前アンケート")
    page.select_option("#q-kind-0", "single")
    page.fill("#q-label-0", "髪の長さ")
    page.fill("#q-key-0", "length")
    page.check("input[name=q_required][value='0']")
    page.fill("#q-choices-0", "ショート | ショート\nロング | ロング, トリートメント案内")
    page.select_option("#q-kind-1", "katakana")
    page.fill("#q-label-1", "フリガナ")
    page.fill("#q-key-1", "kana")
    page.check("input[name=q_required][value='1']")
    page.click("#builder fieldset:nth-of-type(2) summary")
    page.fill("#q-field-1", "kana")
    page.select_option("#q-kind-2", "consent")
    page.fill("#q-label-2", "利用規約に同意します")
    page.fill("#q-key-2", "terms")
    page.check("input[name=q_required][value='2']")
    page.select_option("#form-policy", "editable")
    page.select_option("#action-kind-1", "tag")
    page.fill("#action-target-1", "アンケート回答")
    page.fill("#form-thanks", "ありがとうございました!")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_survey_built_in_the_console_is_answered_in_line_and_seen_on_the_chart(
    chromium: Any,
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    give_liff_app(db, channel)
    define_text_field(db, shop.id, "kana", "フリガナ")
    add_staff(db, shop, ADMIN, Role.ADMIN)
    person = befriend(db, line_sandbox, channel, f"Hanako {viewport}")
    staff = Screen(chromium, hub_url, viewport)
    page = staff.page
    staff.sign_in(ADMIN)
    page.click("nav >> text=回答フォーム")
    page.click("text=新しいフォーム")
    _build(page)
    preview = page.locator("#preview")
    expect(preview.locator("legend", has_text="髪の長さ")).to_be_visible()
    expect(preview.locator("input[type=radio]")).to_have_count(2)
    expect(preview.locator("input[pattern]")).to_have_count(1)  # the katakana rule
    staff.shot("form-builder")
    page.click("text=フォームを保存")
    page.wait_for_selector("text=フォームを作成しました")
    url = page.input_value("#form-url")

    phone = Screen(chromium, hub_url, "phone")
    friend_page = phone.page
    friend_page.goto(url)
    # Not logged in to LINE in this browser: LIFF sends the user to LINE's login first.
    friend_page.click(f"a >> text={f'Hanako {viewport}'}")
    friend_page.wait_for_selector("#lf-form:not([hidden])")
    expect(friend_page.locator("h1")).to_have_text("ご来店前アンケート")
    phone.shot("form-page")
    friend_page.fill("#q-kana", "sato")
    friend_page.click("#send")
    expect(friend_page.locator("#q-length-error")).to_have_text("選んでください。")
    expect(friend_page.locator("#q-kana-error")).to_have_text("全角カタカナで入力してください。")
    expect(friend_page.locator("#q-terms-error")).to_have_text("同意が必要です。")
    phone.shot("form-page-errors")
    assert submissions_of(db, person.friend_id) == []
    friend_page.check("input[name=length][value=ロング]")
    friend_page.fill("#q-kana", "サトウ ハナコ")
    friend_page.check("#q-terms")
    friend_page.click("#send")
    expect(friend_page.locator("#status")).to_have_text("ありがとうございました!")
    phone.shot("form-page-thanks")
    friend_page.add_script_tag(path=AXE)
    found = friend_page.evaluate("async () => (await axe.run()).violations")
    assert [v["id"] for v in found if v["impact"] in ("serious", "critical")] == []
    assert phone.errors == [], phone.errors
    phone.close()

    wait_for(lambda: submissions_of(db, person.friend_id), what="the submission")
    assert field_of(db, shop.id, person.friend_id, "kana") == "サトウ ハナコ"
    assert {"ロング", "トリートメント案内", "アンケート回答"} <= tags_of(db, person.friend_id)
    page.goto(f"/console/friends/{person.friend_id}")
    expect(page.locator("#tags .chip", has_text="トリートメント案内")).to_be_visible()
    expect(page.locator("#forms")).to_contain_text("サトウ ハナコ")
    expect(page.locator("#forms")).to_contain_text("ご来店前アンケート")
    expect(page.locator("#field-kana")).to_have_value("サトウ ハナコ")
    staff.shot("form-friend-chart")
    page.goto("/console/forms")
    row = page.locator("tr", has_text="来店前アンケート")
    assert row.locator("td").nth(1).inner_text() == "1"  # opened by one friend
    assert row.locator("td").nth(2).inner_text() == "1"  # sent by one friend
    row.locator("text=集計").click()
    expect(page.locator("h1")).to_contain_text("集計")
    length = page.locator("section.card", has_text="髪の長さ")
    assert length.locator("progress").nth(1).get_attribute("value") == "1"
    staff.shot("form-results")
    assert staff.errors == []
    form_path = page.url.removesuffix("/results").removeprefix(hub_url)
    staff.close()
    for path in ("/console/forms", form_path, f"{form_path}/results"):
        assert axe_problems(chromium, hub_url, viewport, path, email=ADMIN) == [], path

"""The console's message templates page: an admin writes a template, finds it in the list and
in the composer's list, previews it as a friend receives it, renames and changes it, and deletes
it after a confirmation; a name left empty, a variable the shop does not have, a text too long
for LINE or a name another template has is answered with the reason, and nothing is saved. The
canned replies page refuses an unknown variable the same way."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from inbox import conversations as inbox_conversations
from inbox.models import CannedReply
from messaging.compose.models import MessageTemplate
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup

NEW = "/console/inbox/templates/new"
LANGUAGE = "/console/account/language"


def _admin(db: Database, hub_url: str, shop: Shop) -> Browser:
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    browser = Browser(hub_url)
    browser.sign_in("admin@example.jp")
    return browser


def _templates(db: Database) -> dict[str, list[dict[str, object]]]:
    with db.session_scope() as session:
        return {t.name: t.messages for t in session.scalars(select(MessageTemplate))}


def _hanako(db: Database, channel: ChannelSetup) -> int:
    """A friend who wrote: the preview offers her."""
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子")
    with db.session_scope() as session:
        conversation = inbox_conversations.conversation_of(
            session, session.get_one(Friend, friend_id)
        )
        inbox_conversations.note_incoming(session, conversation, at=utcnow())
    return friend_id


def test_an_admin_writes_previews_changes_and_deletes_a_template(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = _hanako(db, channel)
    browser = _admin(db, hub_url, shop)

    made = browser.submit(
        NEW,
        NEW,
        {
            "name": "来店のお礼",
            "text_1": "{{ display_name }}様、{{ shop_name }}へのご来店ありがとうございました。",
            "text_2": "",
            "text_3": "次回のご予約はこちら {{ link:https://salon.example/booking }}",
        },
    )
    assert made.status_code == 303, made.text
    page = made.headers["location"].split("?")[0]
    listed = browser.get("/console/inbox/templates", headers={"Accept-Language": "ja"})
    preview = browser.get(f"{page}?friend={friend_id}", headers={"Accept-Language": "ja"})
    renamed = browser.submit(page, page, {"name": "ご来店のお礼", "text_1": "またお越しください"})
    confirm = browser.get(f"{page}/delete", headers={"Accept-Language": "ja"})
    in_list_before_delete = _templates(db)
    deleted = browser.submit(f"{page}/delete", f"{page}/delete", {})

    assert "来店のお礼" in listed.text and "メッセージ: 2 件" in listed.text
    assert f"佐藤 花子様、{shop.name}へのご来店ありがとうございました。" in preview.text
    assert "次回のご予約はこちら https://salon.example/booking" in preview.text
    assert renamed.status_code == 303
    assert in_list_before_delete == {
        "ご来店のお礼": [{"type": "text", "text": "またお越しください"}]
    }
    assert "「ご来店のお礼」を削除しますか" in confirm.text
    assert deleted.status_code == 303 and _templates(db) == {}


def test_a_template_of_flex_or_stickers_is_written_as_json_and_shown_as_json(
    db: Database, hub_url: str, shop: Shop
) -> None:
    browser = _admin(db, hub_url, shop)
    sticker = '[{"type": "sticker", "packageId": "446", "stickerId": "1988"}]'

    made = browser.submit(NEW, NEW, {"name": "スタンプ", "text_1": "無視される", "json": sticker})
    editor = browser.get(made.headers["location"])

    assert made.status_code == 303, made.text
    assert _templates(db) == {
        "スタンプ": [{"type": "sticker", "packageId": "446", "stickerId": "1988"}]
    }
    assert "&#34;stickerId&#34;: &#34;1988&#34;" in editor.text


def test_bad_input_is_answered_with_the_reason_and_nothing_is_saved(
    db: Database, hub_url: str, shop: Shop
) -> None:
    browser = _admin(db, hub_url, shop)
    browser.submit(NEW, NEW, {"name": "お礼", "text_1": "ありがとうございました"})
    ja = {"Accept-Language": "ja"}

    cases = {
        "empty name": (
            {"name": "  ", "text_1": "こんにちは"},
            "テンプレートに名前を付けてください",
        ),
        "long name": ({"name": "名" * 101, "text_1": "こんにちは"}, "名前が 101 文字あります"),
        "no message": ({"name": "空", "text_1": " "}, "メッセージを1件以上入力してください"),
        "unknown variable": (
            {"name": "案内", "text_1": "{{ nickname }}様"},
            "使えない変数です: {{ nickname }}",
        ),
        "undefined field": (
            {"name": "案内", "text_1": "{{ field.hair }}"},
            "使えない変数です: {{ field.hair }}",
        ),
        "too long": (
            {"name": "長文", "text_1": "あ", "text_2": "{{ member_name }}" + "あ" * 4990},
            "メッセージ 2 が長すぎます。変数がすべて最長のとき 5040 文字",
        ),
        "bad json": ({"name": "壊れた", "json": "[{"}, "正しいJSONではありません"),
        "not LINE": ({"name": "謎", "json": '[{"type": "fax"}]'}, "LINEが受け付けない"),
        "name taken": (
            {"name": "お礼", "text_1": "別の文面"},
            "お礼 という名前のテンプレートがすでにあります",
        ),
    }
    answers = {}
    for case, (form, _) in cases.items():
        action = NEW
        if case == "name taken":
            browser.submit(NEW, NEW, {"name": "別", "text_1": "別"})
            with db.session_scope() as session:
                other = session.scalars(
                    select(MessageTemplate.id).where(MessageTemplate.name == "別")
                ).one()
            action = f"/console/inbox/templates/{other}"
        answers[case] = browser.submit(NEW, action, form, headers=ja)

    for case, (form, reason) in cases.items():
        answer = answers[case]
        assert answer.status_code in (409, 422), (case, answer.status_code)
        assert reason in answer.text, (case, answer.text)
        assert "保存していません" in answer.text, case
        if form.get("text_1", "").strip():
            assert form["text_1"].replace('"', "&#34;")[:20] in answer.text, case
    browser.submit("/console/account", LANGUAGE, {"locale": "en"})
    english = browser.submit(NEW, NEW, {"name": "案内", "text_1": "{{ nickname }}"})
    assert "Unknown variable: {{ nickname }}" in english.text
    assert "Nothing was saved." in english.text
    assert _templates(db) == {
        "お礼": [{"type": "text", "text": "ありがとうございました"}],
        "別": [{"type": "text", "text": "別"}],
    }


def test_the_canned_replies_page_refuses_an_unknown_variable_and_keeps_what_was_typed(
    db: Database, hub_url: str, shop: Shop
) -> None:
    browser = _admin(db, hub_url, shop)
    page = "/console/inbox/canned"

    refused = browser.submit(
        page,
        page,
        {"code": "hours", "title": "営業時間", "body": "{{ nickname }}様、10時からです"},
        headers={"Accept-Language": "ja"},
    )
    saved = browser.submit(
        page, page, {"code": "hours", "title": "営業時間", "body": "{name}様、{{ shop_name }}です"}
    )

    assert refused.status_code == 422
    assert "使えない変数です: {{ nickname }}" in refused.text
    assert "{{ nickname }}様、10時からです</textarea>" in refused.text
    assert saved.status_code == 303
    with db.session_scope() as session:
        assert session.scalars(select(CannedReply.body)).all() == ["{name}様、{{ shop_name }}です"]


def test_the_inbox_links_to_the_templates_page_for_those_who_manage_it(
    db: Database, hub_url: str, shop: Shop
) -> None:
    browser = _admin(db, hub_url, shop)
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    operator = Browser(hub_url)
    operator.sign_in("operator@example.jp")

    assert 'href="/console/inbox/templates"' in browser.get("/console/inbox").text
    assert 'href="/console/inbox/templates"' in browser.get("/console/inbox/canned").text
    assert 'href="/console/inbox/templates"' not in operator.get("/console/inbox").text

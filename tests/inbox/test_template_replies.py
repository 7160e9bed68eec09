"""Saved message templates sent from the composer: the friend's variables are filled as a
campaign fills them, links are tracked, one key sends once, and a template that names a
variable nobody has is refused when saved."""

from __future__ import annotations

from typing import Any

import httpx

from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import AdminApi, admin_api
from tests.console.support import Browser, add_staff, csrf_of
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

MENU: list[dict[str, Any]] = [
    {"type": "text", "text": "{{ display_name }}様、お問い合わせありがとうございます。"},
    {
        "type": "template",
        "altText": "メニューのご案内",
        "template": {
            "type": "buttons",
            "text": "{{ display_name }}様へのおすすめ",
            "actions": [
                {
                    "type": "uri",
                    "label": "メニューを見る",
                    "uri": "{{ link:https://shop.example/menu }}",
                }
            ],
        },
    },
]


def _named_friend(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> tuple[int, str]:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        session.get_one(Friend, friend_id).display_name = "佐藤 花子"
    return friend_id, user_id


def _conversation_id(api: AdminApi, friend_id: int) -> int:
    return int(api.get(f"/friends/{friend_id}/conversation").json()["id"])


def test_a_saved_template_reaches_the_friend_with_their_name_and_a_tracked_link(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id, user_id = _named_friend(db, line_sandbox, channel)
    api = admin_api(db, hub.settings.public_url, shop)
    saved = api.put("/message-templates", {"name": "メニュー案内", "messages": MENU})
    unknown = api.put(
        "/message-templates",
        {"name": "あだ名", "messages": [{"type": "text", "text": "{{ nickname }}さん"}]},
    )
    path = f"/conversations/{_conversation_id(api, friend_id)}/templates"
    body = {"template_id": saved.json()["id"], "version": 0, "key": "template-aaaa"}

    first = api.post(path, body)
    again = api.post(path, body)
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the template's messages")
    greeting, buttons = (m.message for m in line_sandbox.state.inbox(user_id))
    link = buttons["template"]["actions"][0]["uri"]
    followed = httpx.get(link, timeout=10)

    assert saved.status_code == 200, saved.text
    assert unknown.status_code == 422 and unknown.json()["error"] == "InvalidTemplate"
    assert "nickname" in unknown.json()["detail"]
    assert [t["name"] for t in api.get("/message-templates").json()] == ["メニュー案内"]
    assert first.status_code == 201, first.text
    assert again.json()["duplicate"] is True
    assert greeting["text"] == "佐藤 花子様、お問い合わせありがとうございます。"
    assert buttons["template"]["text"] == "佐藤 花子様へのおすすめ"
    assert link.startswith(f"{hub.settings.public_url}/r/")
    assert (
        followed.status_code == 302 and followed.headers["location"] == "https://shop.example/menu"
    )


def test_staff_send_a_template_from_the_console_composer(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id, user_id = _named_friend(db, line_sandbox, channel)
    api = admin_api(db, hub.settings.public_url, shop)
    template = api.put(
        "/message-templates",
        {
            "name": "お礼",
            "messages": [{"type": "text", "text": "{{ display_name }}様、ありがとうございました"}],
        },
    ).json()
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub.settings.public_url)
    browser.sign_in("aoi@example.jp")
    page = f"/console/inbox/conversations/{_conversation_id(api, friend_id)}"
    assert "お礼" in browser.get(page).text

    sent = browser.submit(
        page,
        f"{page}/templates",
        {"template_id": str(template["id"]), "version": "0", "key": "console-template-1"},
    )
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the template")

    assert sent.status_code == 303 and "sent=push" in sent.headers["location"]
    assert (
        line_sandbox.state.inbox(user_id)[0].message["text"]
        == "佐藤 花子様、ありがとうございました"
    )
    assert "佐藤 花子様、ありがとうございました" in browser.get(page).text

    # A second template written against the same, now old, version: the page shows what was
    # sent and offers this one again, which goes only once confirmed.
    stale = browser.submit(
        page,
        f"{page}/templates",
        {"template_id": str(template["id"]), "version": "0", "key": "console-template-2"},
    )
    assert stale.status_code == 409
    assert "送信されていません" in stale.text
    assert f'name="template_id" value="{template["id"]}"' in stale.text
    assert len(line_sandbox.state.inbox(user_id)) == 1
    confirmed = browser.post(
        f"{page}/templates",
        {
            "csrf_token": csrf_of(stale.text),
            "template_id": str(template["id"]),
            "version": "0",
            "key": "console-template-2",
            "confirm": "true",
        },
    )
    assert confirmed.status_code == 303
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the confirmed template")

"""Handling conversations through the admin API: the owner is the default assignee, views count
what is not resolved, a snooze ends at its time or with the friend's next message, postbacks
show as events, notes mention colleagues, canned replies fill their variables, and search
finds Japanese words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from crm import owners
from idlink.models import Friend
from inbox import conversations
from inbox import notes as inbox_notes
from inbox.models import Conversation
from sandbox.line.server import SandboxServer
from staff.models import Role, StaffUser
from tests.api.admin_support import AdminApi, admin_api
from tests.console.support import add_staff
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def _talk(line_sandbox: SandboxServer, channel: ChannelSetup, user_id: str, text: str) -> None:
    line_sandbox.simulate.send_text(user_id, text, channel_id=channel.channel_id)


def _conversation_of(db: Database, friend_id: int) -> int:
    return wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")


def _conversation(api: AdminApi, conversation_id: int) -> dict[str, Any]:
    return api.get(f"/conversations/{conversation_id}").json()


def test_the_friends_owner_is_assigned_and_the_views_count_what_is_not_resolved(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    followers = add_followers(db, line_sandbox.state, channel, 3)
    (owned, _), (other, _), (third, _) = followers.items()
    with db.session_scope() as session:
        owners.set_owner(
            session, friend=session.get_one(Friend, owned), email="aoi@example.jp", actor="test"
        )
    for user_id in followers.values():
        _talk(line_sandbox, channel, user_id, "質問があります")
    ids = [_conversation_of(db, f) for f in followers]
    api = admin_api(db, hub.settings.public_url, shop)
    api.put(f"/conversations/{ids[2]}/status", {"status": "resolved"})

    page = api.get("/conversations", view="unassigned").json()
    assigned = _conversation(api, ids[0])["conversation"]["assignee"]

    assert assigned == "aoi@example.jp"
    assert page["counts"]["views"] == {"mine": 0, "unassigned": 1, "all": 2}
    assert page["counts"]["statuses"] == {"new": 1, "open": 0, "resolved": 1, "snoozed": 0}
    assert {c["friend_id"] for c in page["items"]} == {other, third}
    resolved = api.get("/conversations", status="resolved").json()["items"]
    assert [c["id"] for c in resolved] == [ids[2]]


def test_a_snooze_ends_at_its_time_or_with_the_friends_next_message(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    followers = add_followers(db, line_sandbox.state, channel, 2)
    (timed, timed_user), (waiting, waiting_user) = followers.items()
    for user_id in followers.values():
        _talk(line_sandbox, channel, user_id, "また連絡します")
    timed_id = wait_for(lambda: conversation_id_of(db, timed), what="conversation")
    waiting_id = wait_for(lambda: conversation_id_of(db, waiting), what="conversation")
    api = admin_api(db, hub.settings.public_url, shop)
    later = (utcnow() + timedelta(hours=2)).isoformat()

    past = api.put(
        f"/conversations/{timed_id}/status",
        {"status": "snoozed", "snoozed_until": (utcnow() - timedelta(hours=1)).isoformat()},
    )
    api.put(f"/conversations/{timed_id}/status", {"status": "snoozed", "snoozed_until": later})
    api.put(f"/conversations/{waiting_id}/status", {"status": "snoozed"})
    with db.session_scope() as session:
        woken = conversations.wake_snoozed(session, now=utcnow() + timedelta(hours=3))
    _talk(line_sandbox, channel, waiting_user, "やっぱり予約します")
    wait_for(
        lambda: _conversation(api, waiting_id)["conversation"]["status"] == "new",
        what="the friend's message reopening it",
    )

    assert past.status_code == 400 and past.json()["error"] == "SnoozeNeedsTime"
    assert woken == 1
    assert _conversation(api, timed_id)["conversation"]["status"] == "new"
    assert timed_user != waiting_user


def test_postbacks_show_as_events_and_notes_notify_the_staff_they_mention(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ren@example.jp", Role.OPERATOR)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.postback(
        user_id, "action=menu&item=coupon", channel_id=channel.channel_id
    )
    conversation_id = wait_for(lambda: conversation_id_of(db, friend_id), what="conversation")
    api = admin_api(db, hub.settings.public_url, shop)

    added = api.post(
        f"/conversations/{conversation_id}/notes", {"body": "@aoi クーポンの件、確認お願いします"}
    )
    timeline = _conversation(api, conversation_id)["timeline"]

    assert added.status_code == 201 and added.json()["mentioned"] == ["aoi@example.jp"]
    assert [(i["kind"], i["text"]) for i in timeline] == [
        ("event", "action=menu&item=coupon"),
        ("note", "@aoi クーポンの件、確認お願いします"),
    ]
    with db.session_scope() as session:
        staff = {u.email: u.id for u in session.query(StaffUser)}
        aoi = inbox_notes.notifications(
            session, shop_id=shop.id, staff_user_id=staff["aoi@example.jp"]
        )
        ren = inbox_notes.notifications(
            session, shop_id=shop.id, staff_user_id=staff["ren@example.jp"]
        )
        status = session.get_one(Conversation, conversation_id).status
    assert [(n.conversation_id, n.read) for n in aoi] == [(conversation_id, False)]
    assert ren == []
    assert status == "new"  # a tap is no message: nobody waits for an answer to it


def test_a_canned_reply_is_sent_with_its_variables_filled(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        session.get_one(Friend, friend_id).display_name = "さくら"
    _talk(line_sandbox, channel, user_id, "営業時間を教えてください")
    conversation_id = wait_for(lambda: conversation_id_of(db, friend_id), what="conversation")
    api = admin_api(db, hub.settings.public_url, shop)
    saved = api.put(
        "/inbox/canned-replies",
        {"code": "hours", "title": "営業時間", "body": "{name}様、{shop}は10時から19時です"},
    )

    sent = api.post(
        f"/conversations/{conversation_id}/replies",
        {"text": "/hours", "version": 0, "key": "canned-0001"},
    )
    wait_for(lambda: line_sandbox.state.inbox(user_id), what="the canned reply")

    assert saved.status_code == 200 and sent.status_code == 201, sent.text
    assert [m.message["text"] for m in line_sandbox.state.inbox(user_id)] == [
        f"さくら様、{shop.name}は10時から19時です"
    ]


def test_a_canned_reply_with_template_variables_arrives_rendered_with_its_link_tracked(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        session.get_one(Friend, friend_id).display_name = "さくら"
    _talk(line_sandbox, channel, user_id, "メニューを見たいです")
    conversation_id = wait_for(lambda: conversation_id_of(db, friend_id), what="conversation")
    api = admin_api(db, hub.settings.public_url, shop)
    body = "{{ display_name }}様、{{shop_name}}のメニュー: {{ link:https://salon.example/menu }}"
    saved = api.put("/inbox/canned-replies", {"code": "menu", "title": "メニュー", "body": body})

    sent = api.post(
        f"/conversations/{conversation_id}/replies",
        {"text": "/menu", "version": 0, "key": "canned-0002"},
    )
    wait_for(lambda: line_sandbox.state.inbox(user_id), what="the canned reply")

    assert saved.status_code == 200 and sent.status_code == 201, sent.text
    (received,) = [m.message["text"] for m in line_sandbox.state.inbox(user_id)]
    greeting, _, url = received.partition(": ")
    assert greeting == f"さくら様、{shop.name}のメニュー"
    assert url.startswith(hub.settings.public_url.rstrip("/") + "/r/")
    click = httpx.get(url, follow_redirects=False)
    assert (click.status_code, click.headers["location"]) == (302, "https://salon.example/menu")


def test_a_canned_reply_with_an_unknown_variable_is_refused_and_nothing_is_saved(
    db: Database, hub: Hub, shop: Shop, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)

    unknown = api.put(
        "/inbox/canned-replies",
        {"code": "hours", "title": "営業時間", "body": "{{ nickname }}様、10時から19時です"},
    )
    no_field = api.put(
        "/inbox/canned-replies",
        {"code": "hours", "title": "営業時間", "body": "{{ field.hair }}のご予約"},
    )
    too_long = api.put(
        "/inbox/canned-replies",
        {"code": "hours", "title": "営業時間", "body": "{name}" + "あ" * 4990},
    )

    assert unknown.status_code == 422 and "nickname" in unknown.json()["detail"]
    assert no_field.status_code == 422 and "field.hair" in no_field.json()["detail"]
    assert too_long.status_code == 422 and "5000" in too_long.json()["detail"]
    assert api.get("/inbox/canned-replies").json() == []


def test_search_finds_japanese_words_in_messages_notes_and_names(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    followers = add_followers(db, line_sandbox.state, channel, 3)
    (first, first_user), (second, second_user), (third, third_user) = followers.items()
    _talk(line_sandbox, channel, first_user, "カラーの予約を変更したいです")
    _talk(line_sandbox, channel, second_user, "駐車場はありますか")
    _talk(line_sandbox, channel, third_user, "100%_オフのクーポン")
    ids = {f: _conversation_of(db, f) for f in followers}
    api = admin_api(db, hub.settings.public_url, shop)
    api.post(f"/conversations/{ids[second]}/notes", {"body": "駐車場の案内を送る"})

    def found(words: str) -> set[int]:
        return {c["friend_id"] for c in api.get("/conversations", q=words).json()["items"]}

    assert found("予約") == {first}
    assert found("駐車場") == {second}
    assert found("案内") == {second}
    assert found("100%_") == {third}
    assert found("%") == {third}
    assert found("ありません") == set()

"""The inbox through the admin API: a friend's message opens a conversation, staff answer it
once (free with the reply token), a reply written before someone else's is refused until
confirmed, and resolving, reopening and the per-staff report follow."""

from __future__ import annotations

from typing import Any

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def _conversation(api: AdminApi, friend_id: int) -> dict[str, Any]:
    return api.get(f"/friends/{friend_id}/conversation").json()


def _wait_status(api: AdminApi, friend_id: int, status: str) -> dict[str, Any]:
    wait_for(lambda: _conversation(api, friend_id)["status"] == status, what=f"status {status}")
    return _conversation(api, friend_id)


def test_two_answers_to_one_message_send_one_until_the_second_is_confirmed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    line_sandbox.simulate.send_text(
        user_id, "明日の予約を変更できますか", channel_id=channel.channel_id
    )
    wait_for(lambda: _conversation(api, friend_id)["preview"] is not None, what="the message")
    seen = _conversation(api, friend_id)
    path = f"/conversations/{seen['id']}/replies"

    first = api.post(
        path,
        {"text": "はい、何時がよろしいですか", "version": seen["version"], "key": "reply-aaaa"},
    )
    again = api.post(
        path,
        {"text": "はい、何時がよろしいですか", "version": seen["version"], "key": "reply-aaaa"},
    )
    late = api.post(path, {"text": "変更できます", "version": seen["version"], "key": "reply-bbbb"})
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the first reply")

    assert first.status_code == 201, first.text
    assert first.json()["free"] is True and first.json()["version"] == seen["version"] + 1
    assert again.status_code == 201 and again.json()["duplicate"] is True
    assert late.status_code == 409 and late.json()["error"] == "ReplyConflict"
    assert "はい、何時がよろしいですか" in late.json()["detail"]

    confirmed = api.post(
        path,
        {"text": "変更できます", "version": seen["version"], "key": "reply-bbbb", "confirm": True},
    )
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the confirmed reply")
    assert confirmed.status_code == 201, confirmed.text
    assert [(m.endpoint, m.message["text"]) for m in line_sandbox.state.inbox(user_id)] == [
        ("replyMessage", "はい、何時がよろしいですか"),
        ("pushMessage", "変更できます"),
    ]
    timeline = api.get(f"/conversations/{seen['id']}").json()["timeline"]
    sent = [(i["kind"], i["source"], i["text"]) for i in timeline if i["kind"] != "change"]
    assert sent == [
        ("message", None, "明日の予約を変更できますか"),
        ("delivery", "api", "はい、何時がよろしいですか"),
        ("delivery", "api", "変更できます"),
    ]


def test_a_resolved_conversation_reopens_on_the_friends_next_message_and_is_reported(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop, name="aoi")
    line_sandbox.simulate.send_text(
        user_id, "営業時間を教えてください", channel_id=channel.channel_id
    )
    # Asking for the conversation makes it (new) before the message lands: wait for the message.
    wait_for(lambda: _conversation(api, friend_id)["waiting_since"], what="the message")
    conversation = _conversation(api, friend_id)
    assert conversation["status"] == "new"
    assert conversation["waiting_since"] is not None and conversation["unread"] is True
    cid = conversation["id"]

    replied = api.post(
        f"/conversations/{cid}/replies",
        {"text": "10時から19時です", "version": conversation["version"], "key": "reply-cccc"},
    )
    after_reply = _conversation(api, friend_id)
    resolved = api.put(f"/conversations/{cid}/status", {"status": "resolved"})
    line_sandbox.simulate.send_text(
        user_id, "土曜日も開いていますか", channel_id=channel.channel_id
    )
    reopened = _wait_status(api, friend_id, "new")
    report = api.get("/inbox/report").json()

    assert replied.status_code == 201
    assert after_reply["status"] == "open" and after_reply["waiting_since"] is None
    assert resolved.json()["status"] == "resolved"
    assert reopened["waiting_since"] is not None
    assert report == [
        {
            "actor": "token:aoi",
            "first_replies": 1,
            "median_first_reply_seconds": report[0]["median_first_reply_seconds"],
            "resolved": 1,
            "median_resolve_seconds": report[0]["median_resolve_seconds"],
        }
    ]
    changes = [
        (i["author"], i["text"])
        for i in api.get(f"/conversations/{cid}").json()["timeline"]
        if i["kind"] == "change"
    ]
    assert changes == [
        ("token:aoi", "new → open"),
        ("token:aoi", "open → resolved"),
        ("line", "resolved → new"),
    ]


def test_a_blocked_friend_is_refused_and_a_stranger_cannot_be_assigned(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    cid = _conversation(api, friend_id)["id"]
    line_sandbox.simulate.unfollow(user_id, channel_id=channel.channel_id)
    wait_for(
        lambda: api.get(f"/friends/{friend_id}").json()["status"] == "blocked", what="the block"
    )

    refused = api.post(
        f"/conversations/{cid}/replies", {"text": "こんにちは", "version": 0, "key": "reply-dddd"}
    )
    empty = api.post(
        f"/conversations/{cid}/replies", {"text": "  ", "version": 0, "key": "reply-eeee"}
    )
    stranger = api.put(f"/conversations/{cid}/assignee", {"email": "nobody@example.jp"})

    assert refused.status_code == 409 and refused.json()["error"] == "FriendNotReachable"
    assert empty.status_code == 422
    assert stranger.status_code == 400 and stranger.json()["error"] == "NotShopStaff"
    assert len(line_sandbox.state.inbox(user_id)) == 0


def test_a_message_sent_from_the_chart_counts_as_an_answer_in_the_conversation(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    line_sandbox.simulate.send_text(user_id, "駐車場はありますか", channel_id=channel.channel_id)
    wait_for(lambda: _conversation(api, friend_id)["preview"] is not None, what="the message")
    seen = _conversation(api, friend_id)

    from_chart = api.post(
        f"/friends/{friend_id}/messages", {"text": "はい、2台分あります", "key": "chart-0001"}
    )
    late = api.post(
        f"/conversations/{seen['id']}/replies",
        {"text": "駐車場はございます", "version": seen["version"], "key": "reply-ffff"},
    )

    assert from_chart.status_code == 201, from_chart.text
    assert late.status_code == 409 and "はい、2台分あります" in late.json()["detail"]
    after = _conversation(api, friend_id)
    assert after["status"] == "open" and after["waiting_since"] is None

"""Chart actions for scripts: a 1:1 text (free as a reply, else a counted push; once per key;
never to a friend who blocked), the LINE profile fetched again, a sequence enrolment."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from messaging.outbox.models import ReplyToken
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

SOURCE = "token:staff"


def _endpoints(line_sandbox: SandboxServer, user_id: str) -> list[tuple[str, str]]:
    return [(m.endpoint, m.message["text"]) for m in line_sandbox.state.inbox(user_id)]


def test_a_text_to_a_friend_who_just_wrote_is_a_free_reply_then_a_counted_push_each_once(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, "予約できますか", channel_id=channel.channel_id)

    def token_kept() -> bool:
        with db.session_scope() as session:
            return (
                session.scalar(select(ReplyToken.token).where(ReplyToken.friend_id == friend_id))
                is not None
            )

    wait_for(token_kept, what="the reply token kept")
    api = admin_api(db, hub.settings.public_url, shop)
    path = f"/friends/{friend_id}/messages"

    first = api.post(path, {"text": "はい、明日10時に空きがあります", "key": "form-0001"})
    again = api.post(path, {"text": "はい、明日10時に空きがあります", "key": "form-0001"})
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the reply")
    second = api.post(path, {"text": "ご予約ありがとうございます", "key": "form-0002"})
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the push")

    assert first.status_code == 201 and first.json()["free"] is True
    assert again.json()["duplicate"] is True
    assert again.json()["delivery_id"] == first.json()["delivery_id"]
    assert second.json()["free"] is False and second.json()["duplicate"] is False
    assert _endpoints(line_sandbox, user_id) == [
        ("replyMessage", "はい、明日10時に空きがあります"),
        ("pushMessage", "ご予約ありがとうございます"),
    ]


def test_a_friend_who_blocked_is_refused_clearly_and_nothing_is_planned(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, _user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        session.get_one(Friend, friend_id).status = "blocked"
    api = admin_api(db, hub.settings.public_url, shop)

    refused = api.post(f"/friends/{friend_id}/messages", {"text": "こんにちは", "key": "form-0003"})
    chart = api.get(f"/friends/{friend_id}/chart")

    assert refused.status_code == 409 and refused.json()["error"] == "FriendNotReachable"
    assert [e["kind"] for e in chart.json()["timeline"]["items"]].count("delivery") == 0


def test_the_profile_is_fetched_again_on_demand(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with line_sandbox.state.lock:
        user = line_sandbox.state.users[user_id]
        user.display_name, user.status_message = "さくら", "今日は休み"
    api = admin_api(db, hub.settings.public_url, shop)

    refreshed = api.post(f"/friends/{friend_id}/profile", {})

    assert refreshed.status_code == 200, refreshed.text
    profile = refreshed.json()["profile"]
    assert (profile["display_name"], profile["status_message"]) == ("さくら", "今日は休み")
    changes = api.get("/audit", action="friend.profile_refreshed").json()["items"]
    assert changes[0]["detail"]["display_name"] == "さくら"


def test_a_friend_is_enrolled_in_a_sequence_once(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    declared = api.put(
        "/sequences/aftercare",
        {
            "name": "aftercare",
            "channel": channel.channel_id,
            "enroll_on": {"event": "tag", "tag": "never-used"},
            "steps": [{"messages": [{"type": "text", "text": "施術後のケアについて"}]}],
        },
    )
    assert declared.status_code in (200, 201), declared.text

    enrolled = api.post(f"/friends/{friend_id}/sequences", {"sequence": "aftercare"})
    twice = api.post(f"/friends/{friend_id}/sequences", {"sequence": "aftercare"})
    unknown = api.post(f"/friends/{friend_id}/sequences", {"sequence": "nope"})

    assert enrolled.status_code == 201, enrolled.text
    assert twice.status_code == 409 and twice.json()["error"] == "AlreadyEnrolled"
    assert unknown.status_code == 404
    wait_for(
        lambda: (
            [m.message["text"] for m in line_sandbox.state.inbox(user_id)]
            == ["施術後のケアについて"]
        ),
        what="the sequence's first step",
    )


def test_reading_a_chart_fetches_a_stale_profile_in_the_background_and_a_fresh_one_not(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    stale, fresh = add_followers(db, line_sandbox.state, channel, 2)
    with db.session_scope() as session:
        session.get_one(Friend, stale).profile_fetched_at = utcnow() - timedelta(days=8)
        session.get_one(Friend, fresh).profile_fetched_at = utcnow() - timedelta(days=1)
    with line_sandbox.state.lock:
        for user in line_sandbox.state.users.values():
            user.display_name = "新しい名前"
    api = admin_api(db, hub.settings.public_url, shop)

    api.get(f"/friends/{stale}/chart")
    api.get(f"/friends/{fresh}/chart")

    def name(friend_id: int) -> str | None:
        with db.session_scope() as session:
            return session.get_one(Friend, friend_id).display_name

    wait_for(lambda: name(stale) == "新しい名前", what="the stale profile fetched again")
    assert name(fresh) != "新しい名前"

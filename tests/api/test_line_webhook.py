"""LINE webhook intake: verified on the raw bytes, stored once, acknowledged, processed later."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import select

from connectors.line.webhook import signature
from core.db import Database
from core.inbox import EventStatus, InboundEvent
from idlink.models import ConversationMessage, Friend, FriendStatus
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.waiting import wait_for


def stored_events(db: Database, channel: ChannelSetup) -> list[InboundEvent]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(InboundEvent)
                .where(InboundEvent.channel_id == channel.channel_pk)
                .order_by(InboundEvent.id)
            )
        )


def find_friend(db: Database, channel: ChannelSetup, user_id: str) -> Friend | None:
    with db.session_scope() as session:
        return session.scalar(
            select(Friend).where(
                Friend.channel_id == channel.channel_pk, Friend.line_user_id == user_id
            )
        )


def friend_of(db: Database, channel: ChannelSetup, user_id: str) -> Friend:
    friend = find_friend(db, channel, user_id)
    assert friend is not None, f"no friend {user_id}"
    return friend


def event_body(channel: ChannelSetup, *events: dict) -> bytes:
    return json.dumps({"destination": channel.bot_user_id, "events": list(events)}).encode()


def follow_event(user_id: str, event_id: str, timestamp_ms: int, mode: str = "active") -> dict:
    return {
        "type": "follow",
        "mode": mode,
        "timestamp": timestamp_ms,
        "webhookEventId": event_id,
        "source": {"type": "user", "userId": user_id},
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r" * 32,
        "follow": {"isUnblocked": False},
    }


def post(channel: ChannelSetup, body: bytes, **headers: str) -> httpx.Response:
    sent = {"x-line-signature": signature(channel.channel_secret, body), **headers}
    return httpx.post(channel.webhook_url, content=body, headers=sent, timeout=10)


def test_follow_creates_a_friend_with_the_profile_fetched_from_line(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user(display_name="佐藤 花子", language="ja")

    delivery = line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)

    assert delivery.status_code == 200
    friend = wait_for(
        lambda: f if (f := find_friend(db, channel, user.user_id)) and f.display_name else None,
        what="the follow to be processed",
    )
    assert friend.status == FriendStatus.FOLLOWED
    assert friend.display_name == "佐藤 花子"
    assert friend.first_followed_at is not None


def test_unfollow_marks_the_friend_blocked(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user()
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.unfollow(user.user_id, channel_id=channel.channel_id)

    friend = wait_for(
        lambda: (
            f if (f := find_friend(db, channel, user.user_id)) and f.status == "blocked" else None
        ),
        what="the unfollow to be processed",
    )
    assert friend.blocked_at is not None


def test_a_late_older_follow_does_not_undo_a_newer_unfollow(
    db: Database, channel: ChannelSetup
) -> None:
    user_id = "U" + "a" * 32
    now_ms = int(time.time() * 1000)
    unfollow = follow_event(user_id, "01UNFOLLOW0000000000000000", now_ms) | {"type": "unfollow"}
    del unfollow["follow"], unfollow["replyToken"]
    assert post(channel, event_body(channel, unfollow)).status_code == 200
    wait_for(lambda: find_friend(db, channel, user_id), what="the unfollow")

    late_follow = follow_event(user_id, "01OLDFOLLOW000000000000000", now_ms - 60_000)
    assert post(channel, event_body(channel, late_follow)).status_code == 200

    wait_for(
        lambda: all(e.status == EventStatus.PROCESSED for e in stored_events(db, channel)),
        what="both events processed",
    )
    assert friend_of(db, channel, user_id).status == FriendStatus.BLOCKED


def test_text_message_is_kept_in_the_conversation(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user()
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(
        user.user_id, "予約を変更したいです", channel_id=channel.channel_id
    )

    def messages() -> list[ConversationMessage]:
        with db.session_scope() as session:
            return list(session.scalars(select(ConversationMessage)))

    kept = wait_for(messages, what="the message to be kept")
    assert [m.text for m in kept] == ["予約を変更したいです"]
    assert kept[0].direction == "in"
    with db.session_scope() as session:
        friend = session.get_one(Friend, kept[0].friend_id)
        assert friend.last_message_at == kept[0].occurred_at  # the friends list sorts on it


def test_redelivered_event_is_stored_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user()
    first = line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    event_id = first.payload["events"][0]["webhookEventId"]

    again = line_sandbox.simulate.redeliver(event_id)

    assert again.status_code == 200
    assert json.loads(again.response_body) == {"received": 1, "stored": 0}
    assert [e.dedup_key for e in stored_events(db, channel)] == [event_id]


def test_the_same_request_sent_twice_stores_each_event_once(
    db: Database, channel: ChannelSetup
) -> None:
    now_ms = int(time.time() * 1000)
    body = event_body(
        channel,
        follow_event("U" + "1" * 32, "01AAAAAAAAAAAAAAAAAAAAAAAA", now_ms),
        follow_event("U" + "2" * 32, "01BBBBBBBBBBBBBBBBBBBBBBBB", now_ms),
    )
    assert post(channel, body).json() == {"received": 2, "stored": 2}
    assert post(channel, body).json() == {"received": 2, "stored": 0}
    assert len(stored_events(db, channel)) == 2


def test_missing_signature_is_refused_and_nothing_is_stored(
    db: Database, channel: ChannelSetup
) -> None:
    body = event_body(channel, follow_event("U" + "3" * 32, "01CCCCCCCCCCCCCCCCCCCCCCCC", 1))
    response = httpx.post(channel.webhook_url, content=body)
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidSignature"
    assert stored_events(db, channel) == []


def test_wrong_signature_is_refused_and_nothing_is_stored(
    db: Database, channel: ChannelSetup
) -> None:
    body = event_body(channel, follow_event("U" + "3" * 32, "01DDDDDDDDDDDDDDDDDDDDDDDD", 1))
    forged = signature("not-the-channel-secret", body)
    response = httpx.post(channel.webhook_url, content=body, headers={"x-line-signature": forged})
    assert response.status_code == 401
    assert "does not match" in response.json()["detail"]
    assert stored_events(db, channel) == []


def test_body_over_one_megabyte_is_refused_with_413(channel: ChannelSetup) -> None:
    body = b'{"destination": "x", "events": [], "pad": "' + b"x" * 1_000_001 + b'"}'
    response = post(channel, body)
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


def test_a_streamed_body_over_one_megabyte_is_refused_with_413(channel: ChannelSetup) -> None:
    chunks = [b'{"destination": "x", "events": [], "pad": "', *[b"x" * 100_000] * 11, b'"}']
    response = httpx.post(
        channel.webhook_url,
        content=iter(chunks),
        headers={"x-line-signature": "unchecked"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


def test_the_webhook_url_answers_post_only(channel: ChannelSetup) -> None:
    response = httpx.get(channel.webhook_url, timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {"error": "HTTPError", "detail": "Method Not Allowed"}


def test_an_accepted_webhook_echoes_the_callers_request_id(channel: ChannelSetup) -> None:
    response = post(channel, event_body(channel), **{"X-Request-ID": "line-trace-7"})
    assert response.status_code == 200
    assert response.json() == {"received": 0, "stored": 0}
    assert response.headers["x-request-id"] == "line-trace-7"


def test_the_webhook_is_documented_in_the_openapi_document(hub_url: str) -> None:
    spec = httpx.get(f"{hub_url}/openapi.json", timeout=60).json()
    operation = spec["paths"]["/webhooks/line/{channel_id}"]["post"]
    assert operation["summary"] == "LINE Messaging API webhook"
    assert set(operation["responses"]) == {"200", "400", "401", "404", "413", "500"}


def test_signed_body_that_is_not_json_is_refused_with_400(channel: ChannelSetup) -> None:
    response = post(channel, b"not json at all")
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"events": []},
        {"destination": "U1", "events": [{"type": "follow"}]},
        {
            "destination": "U1",
            "events": [{"type": "follow", "timestamp": 1, "mode": "x", "webhookEventId": "01E"}],
        },
    ],
    ids=["no-destination", "event-without-id", "unknown-mode"],
)
def test_signed_body_that_is_not_a_webhook_is_refused_with_400_and_kept_for_review(
    db: Database, channel: ChannelSetup, payload: dict
) -> None:
    response = post(channel, json.dumps(payload).encode())
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"
    [kept] = stored_events(db, channel)
    assert (kept.event_type, kept.status) == ("malformed", EventStatus.FAILED)
    assert json.loads(kept.payload["body"]) == payload


def test_empty_events_answer_200(line_sandbox: SandboxServer, channel: ChannelSetup) -> None:
    delivery = line_sandbox.simulate.check_connectivity(channel_id=channel.channel_id)
    assert delivery.status_code == 200


def test_unknown_channel_is_404(hub_url: str) -> None:
    response = httpx.post(
        f"{hub_url}/webhooks/line/999", content=b"{}", headers={"x-line-signature": "x"}
    )
    assert response.status_code == 404


def test_unknown_event_types_are_stored_not_rejected(db: Database, channel: ChannelSetup) -> None:
    event = follow_event("U" + "4" * 32, "01EEEEEEEEEEEEEEEEEEEEEEEE", int(time.time() * 1000))
    event |= {"type": "somethingLINEAddsNextYear", "surprise": {"nested": [1, 2]}}
    del event["follow"]

    assert post(channel, event_body(channel, event)).status_code == 200

    (stored,) = stored_events(db, channel)
    assert stored.event_type == "somethingLINEAddsNextYear"
    assert stored.payload["surprise"] == {"nested": [1, 2]}
    wait_for(
        lambda: stored_events(db, channel)[0].status == EventStatus.PROCESSED,
        what="the unknown event to be settled",
    )


def test_standby_events_are_stored_and_update_state(db: Database, channel: ChannelSetup) -> None:
    user_id = "U" + "5" * 32
    event = follow_event(user_id, "01FFFFFFFFFFFFFFFFFFFFFFFF", int(time.time() * 1000), "standby")

    assert post(channel, event_body(channel, event)).status_code == 200

    wait_for(lambda: find_friend(db, channel, user_id), what="the standby follow")


def test_a_failing_event_is_recorded_and_retried_without_blocking_others(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user(display_name="Retried")
    other = line_sandbox.state.add_user(display_name="Unaffected")
    line_sandbox.state.inject_failures("getProfile", [500])

    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(other.user_id, "hello", channel_id=channel.channel_id)

    first = wait_for(
        lambda: [e for e in stored_events(db, channel) if e.attempts == 1],
        what="the first attempt to fail",
    )[0]
    assert first.last_error is not None and "500" in first.last_error
    assert first.status == EventStatus.PENDING
    wait_for(
        lambda: all(e.status == EventStatus.PROCESSED for e in stored_events(db, channel)),
        timeout=15,
        what="the retry to succeed",
    )
    assert friend_of(db, channel, user.user_id).display_name == "Retried"


def test_a_new_users_follow_and_first_message_processed_together_both_succeed_first_time(
    db: Database, channel: ChannelSetup
) -> None:
    now_ms = int(time.time() * 1000)
    events = []
    for n in range(20):
        user_id = f"U{n:032x}"
        events.append(follow_event(user_id, f"01F{n:023d}", now_ms))
        message = follow_event(user_id, f"01M{n:023d}", now_ms) | {
            "type": "message",
            "message": {"type": "text", "id": f"9{n:08d}", "text": "こんにちは"},
        }
        del message["follow"]
        events.append(message)

    assert post(channel, event_body(channel, *events)).json()["stored"] == 40

    settled = wait_for(
        lambda: (
            (s := stored_events(db, channel))
            and all(e.status == EventStatus.PROCESSED for e in s)
            and s
        ),
        what="all 40 events processed",
    )
    assert [e for e in settled if e.attempts] == []

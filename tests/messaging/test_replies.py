"""Replies: a friend who just wrote is answered with their reply token, free of quota, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging import service
from messaging.models import DeliveryAttempt, ReplyToken
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    TEXT,
    add_followers,
    open_all_hours,
    plan,
    wait_until_states,
)
from tests.waiting import wait_for
from tsunagu.hub import Hub

OTHER = [{"type": "text", "text": "本日のおすすめ"}]


def _writes(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> tuple[int, str]:
    """A friend who just sent the shop a message: (friend id, user id), their token kept."""
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, "予約できますか", channel_id=channel.channel_id)
    wait_for(lambda: _token(db, friend_id) is not None, what="the event's reply token kept")
    return friend_id, user_id


def _token(db: Database, friend_id: int) -> ReplyToken | None:
    with db.session_scope() as session:
        token = session.scalar(select(ReplyToken).where(ReplyToken.friend_id == friend_id))
        if token is not None:
            session.expunge(token)
        return token


def _endpoints(line_sandbox: SandboxServer, user_id: str) -> list[str]:
    return [m.endpoint for m in line_sandbox.state.inbox(user_id)]


def test_a_friend_who_just_wrote_is_answered_by_reply_free_of_quota(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _writes(db, line_sandbox, channel)
    usage = line_sandbox.state.current_usage(line_sandbox.state.channel(channel.channel_id))

    plan(db, channel, [friend_id])
    wait_until_states(db, {"sent": 1})

    assert _endpoints(line_sandbox, user_id) == ["replyMessage"]
    assert line_sandbox.state.current_usage(line_sandbox.state.channel(channel.channel_id)) == usage
    token = _token(db, friend_id)
    assert token is not None and token.used_at is not None


def test_a_token_answers_once_a_second_message_is_pushed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _writes(db, line_sandbox, channel)

    plan(db, channel, [friend_id], source="campaign:1", messages=TEXT)
    plan(db, channel, [friend_id], source="campaign:2", messages=OTHER)
    wait_until_states(db, {"sent": 1}, source="campaign:1")
    wait_until_states(db, {"sent": 1}, source="campaign:2")

    assert sorted(_endpoints(line_sandbox, user_id)) == ["pushMessage", "replyMessage"]


def test_a_stale_token_is_not_used(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _writes(db, line_sandbox, channel)
    with db.session_scope() as session:
        session.execute(
            update(ReplyToken)
            .where(ReplyToken.friend_id == friend_id)
            .values(issued_at=utcnow() - timedelta(minutes=5))
        )

    plan(db, channel, [friend_id])
    wait_until_states(db, {"sent": 1})

    assert _endpoints(line_sandbox, user_id) == ["pushMessage"]


def test_a_token_line_refuses_falls_back_to_one_push(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _writes(db, line_sandbox, channel)
    with line_sandbox.state.lock:
        for token in line_sandbox.state.reply_tokens.values():
            token.used = True  # expired or used on LINE's side, still young by the hub's clock

    plan(db, channel, [friend_id])
    wait_until_states(db, {"sent": 1})

    assert _endpoints(line_sandbox, user_id) == ["pushMessage"]
    with db.session_scope() as session:
        tries = session.execute(
            select(DeliveryAttempt.endpoint, DeliveryAttempt.status_code).order_by(
                DeliveryAttempt.id
            )
        ).all()
    assert [tuple(t) for t in tries] == [("reply", 400), ("push", 200)]


def test_a_message_counted_under_an_aggregation_unit_is_pushed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _writes(db, line_sandbox, channel)
    with db.session_scope() as session:
        service.plan(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            recipients=[friend_id],
            messages=TEXT,
            idempotency_key_for=lambda f: f"campaign:1:{f}",
            due_at=utcnow(),
            source="campaign:1",
            aggregation_unit="winter_sale",
        )
    wait_until_states(db, {"sent": 1})

    (received,) = line_sandbox.state.inbox(user_id)
    assert (received.endpoint, received.aggregation_unit) == ("pushMessage", "winter_sale")

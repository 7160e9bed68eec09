"""Replies: a friend who just wrote is answered with their reply token, free of quota, once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging.campaigns import reports
from messaging.outbox import dispatcher, outcomes, reply_outcomes, service
from messaging.outbox.batch_jobs import BatchJob
from messaging.outbox.claims import DispatchConfig
from messaging.outbox.limiter import LocalLimiter
from messaging.outbox.models import DeliveryAttempt, ReplyToken
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    TEXT,
    add_followers,
    attempts,
    deliveries,
    open_all_hours,
    plan,
    sender_for,
    states,
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


# A reply has no retry key: after a try whose answer is lost, the next try's "Invalid reply token"
# is decided from the tries on record, never resent blindly as a push.

LATER = timedelta(hours=1)


def _reply_claimed(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, config: DispatchConfig
) -> tuple[BatchJob, str, datetime]:
    """A friend who just wrote, a message due to them an hour from now, claimed as a reply."""
    friend_id, user_id = _writes(db, line_sandbox, channel)
    later = utcnow() + LATER
    with db.session_scope() as session:  # as fresh an hour from now as it is now
        session.execute(
            update(ReplyToken).where(ReplyToken.friend_id == friend_id).values(issued_at=later)
        )
    plan(db, channel, [friend_id], due_at=later, now=later)
    (job,) = dispatcher.claim(db, config=config, now=later)
    assert job.endpoint == "reply"
    return job, user_id, later


def _dies_after_sending(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, job: BatchJob
) -> None:
    """The worker's try: on record, then sent (LINE takes it), then the worker is killed."""
    with db.session_scope() as session:
        outcomes.launch(session, job, started_at=utcnow())
    sender_for(line_sandbox, channel).reply(job.reply_token or "", job.messages)


def _retry(db: Database, config: DispatchConfig, claimed_at: datetime) -> str:
    """What a new worker does once the sweeper hands it the batch (its lease over): a try."""
    now = claimed_at + timedelta(seconds=config.lease_seconds + 1)
    with db.session_scope() as session:
        dispatcher.sweep(session, now=now)
    (job,) = dispatcher.claim(db, config=config, now=now)
    return dispatcher.send(
        db,
        job,
        config=config,
        limiter=LocalLimiter(),
        senders=dispatcher.SenderPool(config.api_url, 5.0),
    )


def _config(line_sandbox: SandboxServer) -> DispatchConfig:
    return DispatchConfig(api_url=line_sandbox.url, reply_token_seconds=50)


def test_a_reply_line_took_before_its_worker_died_is_counted_sent_not_pushed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    config = _config(line_sandbox)
    job, user_id, later = _reply_claimed(db, line_sandbox, channel, config)
    _dies_after_sending(db, line_sandbox, channel, job)

    assert _retry(db, config, later) == "sent"

    assert _endpoints(line_sandbox, user_id) == ["replyMessage"]
    assert states(db) == {"sent": 1}
    (delivery,) = deliveries(db)
    assert delivery.reason == reply_outcomes.REPLY_USED_REASON
    assert [(a.outcome, a.status_code) for a in attempts(db)] == [
        ("unanswered", None),
        ("fatal", 400),
    ]


def test_a_reply_on_record_that_never_left_is_sent_once_by_the_next_try(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    config = _config(line_sandbox)
    job, user_id, later = _reply_claimed(db, line_sandbox, channel, config)
    with db.session_scope() as session:  # killed between the record and the request
        outcomes.launch(session, job, started_at=utcnow())

    assert _retry(db, config, later) == "sent"

    assert _endpoints(line_sandbox, user_id) == ["replyMessage"]
    assert states(db) == {"sent": 1}


def test_a_lost_reply_whose_token_may_also_have_expired_is_reported_uncertain(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    config = _config(line_sandbox)
    job, user_id, later = _reply_claimed(db, line_sandbox, channel, config)
    _dies_after_sending(db, line_sandbox, channel, job)
    with db.session_scope() as session:  # the new worker comes long after the event
        session.execute(update(ReplyToken).values(issued_at=utcnow() - timedelta(minutes=10)))

    assert _retry(db, config, later) == "uncertain"

    assert _endpoints(line_sandbox, user_id) == ["replyMessage"]  # not pushed a second time
    assert states(db) == {"uncertain": 1}
    (delivery,) = deliveries(db)
    assert delivery.reason == reply_outcomes.REPLY_UNCERTAIN_REASON
    with db.session_scope() as session:
        campaign = reports.source_figures(session, shop_id=channel.shop_id, source="campaign:1")
    assert campaign.by_state == {"uncertain": 1}


def test_a_reply_refused_with_429_whose_token_then_expires_goes_as_one_push(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    config = _config(line_sandbox)
    job, user_id, later = _reply_claimed(db, line_sandbox, channel, config)
    line_sandbox.state.inject_failures("replyMessage", [429])
    pool = dispatcher.SenderPool(config.api_url, 5.0)
    send: dict[str, Any] = {"config": config, "limiter": LocalLimiter(), "senders": pool}
    assert dispatcher.send(db, job, **send) == "retried"
    assert line_sandbox.state.expire_reply_tokens(user_id) == 1

    retry_at = later + timedelta(minutes=10)
    (again,) = dispatcher.claim(db, config=config, now=retry_at)
    assert dispatcher.send(db, again, **send) == "retried"  # token refused: pushed instead
    (push,) = dispatcher.claim(db, config=config, now=retry_at)
    assert (push.endpoint, push.batch_id) == ("push", job.batch_id)
    assert dispatcher.send(db, push, **send) == "sent"

    assert _endpoints(line_sandbox, user_id) == ["pushMessage"]
    assert states(db) == {"sent": 1}
    assert [(a.endpoint, a.status_code) for a in attempts(db)] == [
        ("reply", 429),
        ("reply", 400),
        ("push", 200),
    ]


def test_a_reply_whose_answer_timed_out_is_not_pushed_after_line_refuses_its_token(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    config = replace(_config(line_sandbox), request_timeout_seconds=0.3)
    job, user_id, later = _reply_claimed(db, line_sandbox, channel, config)
    line_sandbox.state.inject_delay("replyMessage", 1.0)  # taken, answered too late
    pool = dispatcher.SenderPool(config.api_url, 0.3)
    send: dict[str, Any] = {"config": config, "limiter": LocalLimiter(), "senders": pool}
    assert dispatcher.send(db, job, **send) == "retried"

    (again,) = dispatcher.claim(db, config=config, now=later + timedelta(minutes=10))
    assert dispatcher.send(db, again, **send) == "sent"

    wait_for(lambda: _endpoints(line_sandbox, user_id) == ["replyMessage"], what="the reply")
    assert states(db) == {"sent": 1}

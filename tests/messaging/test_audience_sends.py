"""Audience sends: one message set frozen for a whole segment, sent once per friend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink.models import Friend
from messaging.outbox import dispatcher, guardrails, service
from messaging.outbox.limiter import LocalLimiter
from messaging.outbox.models import DeliveryBatch, DeliveryState
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    add_followers,
    api_calls,
    attempts,
    open_all_hours,
    plan,
    plan_audience,
    received_counts,
    resend_after_a_lost_answer,
    sender_for,
    states,
    wait_until_states,
)
from tests.messaging.test_guardrails import tokyo

SENT, HELD, SUPPRESSED = DeliveryState.SENT, DeliveryState.HELD, DeliveryState.SUPPRESSED
BLOCKED, OPTED_OUT = guardrails.BLOCKED_REASON, guardrails.OPTED_OUT_REASON


@pytest.fixture
def friends(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[int, str]:
    open_all_hours(db, channel)
    return add_followers(db, line_sandbox.state, channel, 4)


def exactly_once(sandbox: SandboxServer, channel: ChannelSetup, user_ids) -> bool:
    return received_counts(sandbox.state, channel) == dict.fromkeys(user_ids, 1)


def batches(db: Database) -> list[DeliveryBatch]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(DeliveryBatch)
                .options(undefer(DeliveryBatch.friend_ids), undefer(DeliveryBatch.user_ids))
                .order_by(DeliveryBatch.created_at)
            )
        )


def block(db: Database, friend_id: int) -> None:
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        friend.status, friend.blocked_at = "blocked", utcnow()


def opt_out(db: Database, friend_id: int) -> None:
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        guardrails.set_consent(session, friend=friend, opted_out=True, source="liff form")


def test_an_audience_reaches_every_friend_once_in_multicasts_of_at_most_500(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 1203)

    result = plan_audience(db, channel)

    assert (result.planned, result.batches, result.duplicate) == (1203, 3, False)
    wait_until_states(db, {SENT: 1203})
    assert exactly_once(line_sandbox, channel, friends.values())
    calls = api_calls(line_sandbox, channel, "/v2/bot/message/multicast")
    assert sorted(len(c.request_json()["to"]) for c in calls) == [203, 500, 500]
    keys = {c.request_headers["x-line-retry-key"] for c in calls}
    assert keys == {b.id for b in batches(db)} == {a.retry_key for a in attempts(db)}


def test_an_audience_planned_twice_is_frozen_once_and_sent_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    first = plan_audience(db, channel)
    second = plan_audience(db, channel)

    assert (second.duplicate, second.send_id, second.planned) == (True, first.send_id, 4)
    assert len(batches(db)) == 1
    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends.values())


def test_friends_left_out_when_the_audience_is_frozen_are_counted_by_reason(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    blocked, opted_out, *others = friends
    block(db, blocked)
    opt_out(db, opted_out)

    result = plan_audience(db, channel)

    assert result.planned == 2
    assert result.suppressed == {BLOCKED: 1, OPTED_OUT: 1}
    wait_until_states(db, {SENT: 2, SUPPRESSED: 2})
    assert exactly_once(line_sandbox, channel, [friends[f] for f in others])
    with db.session_scope() as session:
        reasons = service.suppressed_by_reason(session, source="campaign:1")
    assert reasons == {BLOCKED: 1, OPTED_OUT: 1}


def forget_user_ids(db: Database) -> None:
    """As if frozen before batches kept their friends' user ids (migration 0043)."""
    with db.session_scope() as session:
        session.execute(update(DeliveryBatch).values(user_ids=None))


@pytest.mark.parametrize("user_ids_kept", [True, False], ids=["user-ids-kept", "frozen-before"])
def test_a_friend_who_blocks_or_opts_out_after_the_freeze_is_dropped_before_sending(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
    user_ids_kept: bool,
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan_audience(db, channel, due_at=later, now=later)
    if not user_ids_kept:
        forget_user_ids(db)
    blocked, opted_out, *others = friends
    block(db, blocked)
    opt_out(db, opted_out)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)

    (job,) = dispatcher.claim(db, config=config, now=later)
    dispatcher.send(
        db,
        job,
        config=config,
        limiter=LocalLimiter(),
        senders=dispatcher.SenderPool(config.api_url, 5.0),
    )

    assert sorted(job.user_ids) == sorted(friends[f] for f in others)
    (batch,) = batches(db)
    assert (batch.recipients, batch.dropped) == (2, {BLOCKED: 1, OPTED_OUT: 1})
    assert states(db) == {SENT: 2, SUPPRESSED: 2}
    assert exactly_once(line_sandbox, channel, [friends[f] for f in others])


def test_only_the_batchs_own_friends_who_left_are_dropped_not_others_in_its_range_of_ids(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    first, outside, left, last = sorted(friends)
    later = utcnow() + timedelta(hours=1)
    with db.session_scope() as session:
        service.plan_audience(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            audience=select(Friend.id).where(Friend.id.in_([first, left, last])),
            messages=[{"type": "text", "text": "セール"}],
            idempotency_key="campaign:1:run-1",
            source="campaign:1",
            due_at=later,
            now=later,
        )
    block(db, outside)  # between the batch's first and last friend, but not in its audience
    block(db, left)
    opt_out(db, outside)

    (job,) = dispatcher.claim(db, config=dispatcher.DispatchConfig(api_url="unused"), now=later)

    assert job.user_ids == (friends[first], friends[last])
    (batch,) = batches(db)
    assert (batch.friend_ids, batch.user_ids) == ([first, last], [friends[first], friends[last]])
    assert (batch.recipients, batch.dropped) == (2, {BLOCKED: 1})


def test_a_batch_whose_friends_all_left_after_the_freeze_is_cancelled_unsent(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan_audience(db, channel, due_at=later, now=later)
    for friend_id in friends:
        block(db, friend_id)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)

    assert dispatcher.claim(db, config=config, now=later) == []

    (batch,) = batches(db)
    assert (batch.state, batch.recipients, batch.dropped) == ("cancelled", 0, {BLOCKED: 4})
    assert states(db) == {SUPPRESSED: 4}
    assert attempts(db) == []


def test_a_batch_resent_after_its_worker_lost_the_lease_is_answered_409_and_counted_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan_audience(db, channel, due_at=later, now=later)
    job = resend_after_a_lost_answer(db, line_sandbox, channel, now=later)

    assert states(db) == {SENT: 4}
    assert exactly_once(line_sandbox, channel, friends.values())
    (attempt,) = attempts(db)
    assert (attempt.status_code, attempt.retry_key) == (409, job.batch_id)


def test_an_audience_over_the_monthly_quota_is_held_whole_until_released(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    line_sandbox.state.set_monthly_quota(channel.channel_id, 10, usage=7)
    quota = sender_for(line_sandbox, channel)

    result = plan_audience(db, channel, quota_sender=quota)

    assert result.held and result.planned == 4
    assert result.hold_reason == "monthly quota: this send needs 4 messages, 3 remain this month"
    assert states(db) == {HELD: 4}
    with db.session_scope() as session:
        assert not service.release_held(session, source="campaign:1", quota_sender=quota).fits
    assert received_counts(line_sandbox.state, channel) == {}

    line_sandbox.state.set_monthly_quota(channel.channel_id, 20, usage=7)
    with db.session_scope() as session:
        assert service.release_held(session, source="campaign:1", quota_sender=quota).fits
    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends.values())


def test_an_audience_waiting_to_be_sent_counts_against_the_quota_of_later_sends(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    line_sandbox.state.set_monthly_quota(channel.channel_id, 6)
    quota = sender_for(line_sandbox, channel)
    later = utcnow() + timedelta(hours=1)

    first = plan_audience(db, channel, quota_sender=quota, due_at=later)
    second = plan(db, channel, list(friends), source="campaign:2", quota_sender=quota)

    assert not first.held
    assert second.hold_reason == "monthly quota: this send needs 4 messages, 2 remain this month"


def test_frequency_caps_count_audience_sends(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friends = add_followers(db, line_sandbox.state, channel, 3)
    with db.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, quiet_hours=None, per_day=1)
        guardrails.set_policy(
            session,
            shop_id=channel.shop_id,
            source_prefix="reminder:",
            quiet_hours=None,
            per_day=None,
        )
    plan_audience(db, channel)
    wait_until_states(db, {SENT: 3})

    per_friend = plan(db, channel, list(friends), source="campaign:2")
    audience = plan_audience(db, channel, source="campaign:3")
    reminder = plan_audience(db, channel, source="reminder:4")

    capped = {"frequency cap: 1 per day reached": 3}
    assert (per_friend.planned, per_friend.suppressed) == (0, capped)
    assert (audience.planned, audience.suppressed) == (0, capped)
    assert reminder.planned == 3
    wait_until_states(db, {SENT: 3}, source="reminder:4")
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 2)


def test_an_audience_due_at_night_waits_for_the_end_of_quiet_hours(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    add_followers(db, line_sandbox.state, channel, 2)
    night = tokyo(1, 23, 30)

    result = plan_audience(db, channel, due_at=night, now=night)

    assert result.deferred_until == tokyo(2, 8, 0)
    (batch,) = batches(db)
    assert batch.next_attempt_at == tokyo(2, 8, 0)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)
    assert dispatcher.claim(db, config=config, now=night + timedelta(minutes=5)) == []


def test_cancelling_a_source_cancels_its_audience_batches_not_yet_sent(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    plan_audience(db, channel, due_at=utcnow() + timedelta(hours=1))

    with db.session_scope() as session:
        cancelled = service.cancel(session, source="campaign:1", reason="campaign withdrawn")

    assert cancelled == 4
    assert states(db) == {DeliveryState.CANCELLED: 4}


def test_a_push_planned_while_an_audience_drains_is_claimed_beside_its_batches(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)  # out of the hub's own dispatcher's reach
    plan_audience(db, channel, due_at=later)
    plan(db, channel, list(friends)[:1], source="reminder:1", due_at=later)

    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)
    jobs = dispatcher.claim(db, config=config, now=later + timedelta(seconds=1))

    assert sorted(job.endpoint for job in jobs) == ["multicast", "push"]

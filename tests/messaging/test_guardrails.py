"""Guardrails: who is never sent anything, and when a message waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink import events
from idlink.models import Friend
from messaging.outbox import dispatcher, guardrails
from messaging.outbox.limiter import LocalLimiter
from messaging.outbox.models import DeliveryState
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    add_followers,
    deliveries,
    open_all_hours,
    plan,
    received_counts,
    wait_until_states,
)
from tests.waiting import wait_for

TOKYO = ZoneInfo("Asia/Tokyo")
SENT, SUPPRESSED, PENDING = DeliveryState.SENT, DeliveryState.SUPPRESSED, DeliveryState.PENDING


def tokyo(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = (utcnow() + timedelta(days=days_ahead)).astimezone(TOKYO).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


@pytest.mark.parametrize(
    ("local", "resumes"),
    [
        ((1, 23, 30), (2, 8, 0)),
        ((2, 1, 15), (2, 8, 0)),
        ((2, 7, 59), (2, 8, 0)),
        ((2, 8, 0), None),
        ((2, 21, 59), None),
    ],
)
def test_quiet_hours_span_midnight_in_the_channels_timezone(local, resumes) -> None:
    resume_at = guardrails.quiet_hours_end(tokyo(*local), guardrails.Policy(), "Asia/Tokyo")

    assert resume_at == (tokyo(*resumes) if resumes else None)


@pytest.mark.fast
def test_a_message_due_at_night_waits_for_the_morning(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friends = add_followers(db, line_sandbox.state, channel, 1)
    night = tokyo(1, 23, 30)

    plan(db, channel, list(friends), due_at=night)
    plan(db, channel, list(friends), due_at=night, source="reminder:7", respect_quiet_hours=False)

    (campaign,) = deliveries(db)
    assert (campaign.due_at, campaign.next_attempt_at) == (night, tokyo(2, 8, 0))
    assert campaign.reason == (
        f"quiet hours: waits until {tokyo(2, 8, 0).astimezone(TOKYO):%Y-%m-%d} 08:00 Asia/Tokyo"
    )
    (reminder,) = deliveries(db, "reminder:7")
    assert (reminder.next_attempt_at, reminder.reason) == (night, None)


@pytest.mark.fast
def test_a_message_reaching_the_dispatcher_at_night_is_deferred_not_sent(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friends = add_followers(db, line_sandbox.state, channel, 2)
    evening = tokyo(1, 21, 0)
    plan(db, channel, list(friends), due_at=evening, now=evening)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)

    assert dispatcher.claim(db, config=config, now=tokyo(1, 22, 30)) == []

    assert {d.next_attempt_at for d in deliveries(db)} == {tokyo(2, 8, 0)}
    assert {d.state for d in deliveries(db)} == {PENDING}
    assert received_counts(line_sandbox.state, channel) == {}


def test_a_friend_who_blocks_the_account_gets_nothing_of_what_was_pending(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 2)
    (stays, leaves) = friends.values()
    plan(db, channel, list(friends), due_at=utcnow() + timedelta(hours=1))

    assert line_sandbox.simulate.unfollow(leaves, channel_id=channel.channel_id).ok

    wait_until_states(db, {PENDING: 1, SUPPRESSED: 1})
    (suppressed,) = [d for d in deliveries(db) if d.state == SUPPRESSED]
    assert suppressed.reason == "friend blocked the account"
    assert friends[suppressed.friend_id] == leaves
    plan(db, channel, list(friends), source="campaign:2")
    wait_until_states(db, {SENT: 1, SUPPRESSED: 1}, source="campaign:2")
    assert received_counts(line_sandbox.state, channel) == {stays: 1}


def test_an_opted_out_friend_is_suppressed_with_the_reason(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 3)
    opted_out_id, *others = friends
    with db.session_scope() as session:
        friend = session.get_one(Friend, opted_out_id)
        guardrails.set_consent(session, friend=friend, opted_out=True, source="liff form")

    result = plan(db, channel, list(friends))

    assert result.suppressed == {"friend opted out of messages": 1}
    wait_until_states(db, {SENT: 2, SUPPRESSED: 1})
    assert set(received_counts(line_sandbox.state, channel)) == {friends[f] for f in others}


def test_a_daily_cap_suppresses_the_second_campaign_but_not_an_exempt_source(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friends = add_followers(db, line_sandbox.state, channel, 2)
    with db.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, quiet_hours=None, per_day=1)
        guardrails.set_policy(
            session,
            shop_id=channel.shop_id,
            source_prefix="reminder:",
            quiet_hours=None,
            per_day=None,
        )
    plan(db, channel, list(friends))
    wait_until_states(db, {SENT: 2})

    second = plan(db, channel, list(friends), source="campaign:2")
    reminder = plan(db, channel, list(friends), source="reminder:3")

    assert second.suppressed == {"frequency cap: 1 per day reached": 2}
    assert reminder.planned == 2
    wait_until_states(db, {SENT: 2}, source="reminder:3")
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 2)


@pytest.mark.fast
def test_planning_for_someone_who_is_not_a_friend_of_the_channel_plans_nothing(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)

    result = plan(db, channel, [987654])

    assert (result.not_friends, result.created) == (1, 0)
    wait_for(lambda: deliveries(db) == [], what="no deliveries")


@pytest.mark.fast
def test_the_sweeper_suppresses_what_a_friend_blocked_without_an_event_had_pending(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 2)
    blocked_id = next(iter(friends))
    plan(db, channel, list(friends), due_at=utcnow() + timedelta(hours=1))
    with db.session_scope() as session:
        friend = session.get_one(Friend, blocked_id)
        friend.status, friend.blocked_at = "blocked", utcnow()

    with db.session_scope() as session:
        dispatcher.sweep(session)

    by_friend = {d.friend_id: (d.state, d.reason) for d in deliveries(db)}
    assert by_friend[blocked_id] == (SUPPRESSED, "friend blocked the account")
    assert [s for f, (s, _) in by_friend.items() if f != blocked_id] == [PENDING]


def channel_mode(db: Database, channel: ChannelSetup) -> str:
    with db.session_scope() as session:
        return session.get_one(Channel, channel.channel_pk).mode


def test_a_channel_line_puts_in_standby_sends_nothing_until_line_makes_it_active(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.state.update_channel(channel.channel_id, mode="standby")
    try:
        line_sandbox.simulate.send_text(user_id, "こんにちは", channel_id=channel.channel_id)
        wait_for(lambda: channel_mode(db, channel) == "standby", what="the standby noted")
        plan(db, channel, [friend_id])
        # Whatever the hub's own worker did with the row meanwhile, a run finds it due and
        # leaves it: the channel is in standby.
        run = dispatcher.run(
            db, config=dispatcher.DispatchConfig(api_url=line_sandbox.url), limiter=LocalLimiter()
        )
        assert (run.requests, run.sent) == (0, 0)
        assert [d.state for d in deliveries(db)] == [PENDING]
        assert received_counts(line_sandbox.state, channel) == {}
    finally:
        line_sandbox.state.update_channel(channel.channel_id, mode="active")

    line_sandbox.simulate.send_text(user_id, "まだですか", channel_id=channel.channel_id)

    wait_until_states(db, {SENT: 1})
    assert received_counts(line_sandbox.state, channel) == {user_id: 1}
    with db.session_scope() as session:
        actions = session.scalars(
            select(AuditLog.action)
            .where(AuditLog.shop_id == channel.shop_id, AuditLog.action.like("channel.%"))
            .order_by(AuditLog.id)
        ).all()
    assert actions == ["channel.standby", "channel.active"]


@pytest.mark.fast
def test_an_older_event_does_not_undo_a_newer_mode(db: Database, channel: ChannelSetup) -> None:
    with db.session_scope() as session:
        row = session.get_one(Channel, channel.channel_pk)
        events.note_mode(session, row, "deactivated", {"timestamp": 2_000, "mode": "active"})
        events.note_mode(session, row, "message", {"timestamp": 1_000, "mode": "active"})
        assert (row.mode, row.mode_since) == ("standby", 2_000)
        events.note_mode(session, row, "message", {"timestamp": 3_000, "mode": "active"})
        assert (row.mode, row.mode_since) == ("active", 3_000)


def policy_of(db: Database, channel: ChannelSetup, source: str) -> guardrails.Policy:
    with db.session_scope() as session:
        return guardrails.PolicyBook(session, channel.shop_id).for_source(source)


@pytest.mark.fast
def test_a_prefix_policy_that_sets_quiet_hours_keeps_them_when_the_shop_changes_its_own(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, quiet_hours=("22:00", "08:00"))
        guardrails.set_policy(
            session,
            shop_id=channel.shop_id,
            source_prefix="reminder:",
            quiet_hours=("23:00", "06:00"),
        )
        guardrails.set_policy(
            session, shop_id=channel.shop_id, quiet_hours=("21:00", "09:00"), per_day=1
        )

    reminder = policy_of(db, channel, "reminder:5:7")

    assert (reminder.quiet_start, reminder.quiet_end) == (clock_time(23), clock_time(6))
    assert reminder.per_day == 1  # a cap the prefix does not set is the shop's


@pytest.mark.fast
def test_a_prefix_policy_can_say_none_where_the_shop_sets_quiet_hours_and_caps(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, per_day=1, per_week=3)
        guardrails.set_policy(
            session,
            shop_id=channel.shop_id,
            source_prefix="reminder:",
            quiet_hours=None,
            per_day=None,
        )

    reminder = policy_of(db, channel, "reminder:5:7")
    shop = policy_of(db, channel, "campaign:1")

    assert (reminder.quiet_start, reminder.per_day, reminder.per_week) == (None, None, 3)
    assert (shop.quiet_start, shop.quiet_end) == (
        clock_time(22),
        clock_time(8),
    )  # the built-in default
    assert (shop.per_day, shop.per_week) == (1, 3)


@pytest.mark.fast
def test_a_campaigns_policy_does_not_cover_a_campaign_whose_id_begins_with_its_own(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        guardrails.set_policy(
            session, shop_id=channel.shop_id, source_prefix="campaign:1", per_day=1
        )

    assert policy_of(db, channel, "campaign:1").per_day == 1
    assert policy_of(db, channel, "campaign:12").per_day is None

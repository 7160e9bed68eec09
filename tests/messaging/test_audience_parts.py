"""Audience sends frozen in parts: the first friends are sent to while the rest is frozen."""

from __future__ import annotations

from sqlalchemy import func, select

from core.clock import utcnow
from core.db import Database
from idlink.models import Friend
from messaging.outbox import guardrails, service
from messaging.outbox.audience import AudienceResult
from messaging.outbox.models import AudienceSend, AudienceState, DeliveryBatch, DeliveryState
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    TEXT,
    add_followers,
    open_all_hours,
    received_counts,
    wait_until_states,
)
from tests.messaging.test_audience_sends import block, opt_out

SENT, SUPPRESSED = DeliveryState.SENT, DeliveryState.SUPPRESSED
BLOCKED, OPTED_OUT = guardrails.BLOCKED_REASON, guardrails.OPTED_OUT_REASON


def plan_in_parts(
    db: Database, channel: ChannelSetup, *, max_parts: int | None = None
) -> AudienceResult:
    return service.plan_audience_in_parts(
        db,
        channel_id=channel.channel_pk,
        audience=select(Friend.id).where(Friend.channel_id == channel.channel_pk),
        messages=TEXT,
        idempotency_key="campaign:1:run-1",
        source="campaign:1",
        due_at=utcnow(),
        first_part=100,
        part=400,
        max_parts=max_parts,
    )


def send_state(db: Database) -> tuple[str, int]:
    with db.session_scope() as session:
        send = session.scalars(select(AudienceSend)).one()
        batches = session.scalar(select(func.count()).select_from(DeliveryBatch)) or 0
        return send.state, batches


def test_an_audience_frozen_in_parts_reaches_every_friend_once_with_the_whole_counts(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 1203)
    blocked, opted_out, *others = friends
    block(db, blocked)
    opt_out(db, opted_out)

    result = plan_in_parts(db, channel)

    assert (result.planned, result.duplicate) == (1201, False)
    assert result.suppressed == {BLOCKED: 1, OPTED_OUT: 1}
    # 100, 400, 400 and 303: four parts, a batch each (none reaches 500).
    assert send_state(db) == (AudienceState.QUEUED, 4)
    wait_until_states(db, {SENT: 1201, SUPPRESSED: 2})
    received = received_counts(line_sandbox.state, channel)
    assert received == dict.fromkeys((friends[f] for f in others), 1)


def test_the_first_part_is_sent_before_the_rest_is_frozen_and_a_second_call_finishes_it(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 900)

    plan_in_parts(db, channel, max_parts=1)  # as a process stopped after its first part

    wait_until_states(db, {SENT: 100})
    assert send_state(db) == (AudienceState.FREEZING, 1)
    first = sorted(friends)[:100]
    assert received_counts(line_sandbox.state, channel) == {friends[f]: 1 for f in first}

    finished = plan_in_parts(db, channel)

    assert (finished.duplicate, finished.planned) == (True, 900)
    wait_until_states(db, {SENT: 900})
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 1)
    assert plan_in_parts(db, channel).planned == 900
    assert send_state(db) == (AudienceState.QUEUED, 4)


def test_a_send_cancelled_while_it_freezes_freezes_nothing_more(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 900)
    plan_in_parts(db, channel, max_parts=1)
    wait_until_states(db, {SENT: 100})

    with db.session_scope() as session:
        service.cancel(session, source="campaign:1", reason="staff stopped it")
    plan_in_parts(db, channel)

    assert send_state(db) == (AudienceState.CANCELLED, 1)
    first = sorted(friends)[:100]
    assert received_counts(line_sandbox.state, channel) == {friends[f]: 1 for f in first}

"""A dispatcher run's claims: the next one is taken while the last one is being sent."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from messaging.outbox import dispatcher
from messaging.outbox.claim_queue import ClaimQueue
from messaging.outbox.models import BatchState, DeliveryBatch
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours, plan_audience

# Out of the reach of the hub's own dispatcher: the queue under test claims with a clock an
# hour ahead.
LATER = timedelta(hours=1)


def batch_states(db: Database) -> Counter[str]:
    with db.session_scope() as session:
        return Counter(session.scalars(select(DeliveryBatch.state)))


def queue(db: Database, line_sandbox: SandboxServer) -> ClaimQueue:
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url, batches_per_claim=1)
    ahead = utcnow() + LATER + timedelta(seconds=1)
    return ClaimQueue(db, config, deadline=time.monotonic() + 60, clock=lambda: ahead)


def test_the_next_claim_is_taken_when_the_first_batch_of_the_last_one_is_handed_out(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    add_followers(db, line_sandbox.state, channel, 1203)
    plan_audience(db, channel, due_at=utcnow() + LATER)  # three multicasts
    claims = queue(db, line_sandbox)

    first = claims.next()

    # The batch handed out, and the next one already claimed while it is sent: the run's other
    # threads never stand idle waiting for a claim.
    assert first is not None and len(first.user_ids) == 500
    assert batch_states(db) == {BatchState.SENDING: 2, BatchState.QUEUED: 1}
    rest = [claims.next(), claims.next()]
    assert all(job is not None for job in rest)
    assert claims.next() is None
    assert batch_states(db) == {BatchState.SENDING: 3}


def test_a_claim_that_finds_nothing_while_batches_are_left_does_not_end_the_run(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    add_followers(db, line_sandbox.state, channel, 600)
    plan_audience(db, channel, due_at=utcnow() + LATER)  # two multicasts
    claims = queue(db, line_sandbox)
    handed_out = [claims.next(), claims.next()]  # the second claim looked ahead, found nothing

    # Work committed after that empty look ahead is still this run's: the queue claims again
    # once its batches ran out instead of ending.
    plan_audience(db, channel, key="campaign:1:run-2", due_at=utcnow() + LATER)
    later = [claims.next(), claims.next()]

    assert all(job is not None for job in handed_out + later)
    assert claims.next() is None
    assert batch_states(db) == {BatchState.SENDING: 4}

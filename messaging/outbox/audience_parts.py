"""Audience sends frozen in parts: the first batches leave while the rest is being frozen.

``plan_audience`` freezes a whole audience in the caller's transaction, so nothing can be sent
before the last of a million friends is frozen (about 1.5 s on the fan-out benchmark's
machine). ``plan_audience_in_parts`` freezes the same send in ranges of friend ids, each range
its own transaction: a small first part (the dispatcher is nudged as it commits), then larger
ones, each well ahead of what LINE's multicast limit lets the dispatcher send. Every part is
frozen by the same code as a whole send, with the same guardrails, batches and counts.

While it freezes, the send is ``freezing`` with ``frozen_through``, the friend id it reached.
Each part locks the send's row first, so a second caller waits and goes on from where the
first stopped: a process that died half-way is finished by calling again with the same
idempotency key, and a send cancelled half-way freezes nothing more. The monthly quota needs
the whole audience counted before anything leaves: a send checked against it is frozen whole
(``plan_audience`` with ``quota_sender``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import Database
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from idlink.models import Friend
from messaging.outbox import guardrails
from messaging.outbox.audience import AudienceResult, existing, open_send
from messaging.outbox.audience_freeze import Freeze, freeze_audience
from messaging.outbox.models import AudienceSend, AudienceState

# Friends in the first part (10 multicasts: on their way within milliseconds of its commit) and
# in each part after it (a part freezes in ~0.15 s, the dispatcher sends it in ~1 s).
FIRST_PART = 5_000
PART = 100_000


def plan_audience_in_parts(
    database: Database,
    *,
    channel_id: int,
    audience: Select[Any],
    messages: Sequence[dict[str, Any]],
    idempotency_key: str,
    source: str,
    due_at: datetime,
    respect_quiet_hours: bool = True,
    aggregation_unit: str | None = None,
    first_part: int = FIRST_PART,
    part: int = PART,
    max_parts: int | None = None,
) -> AudienceResult:
    """Freeze ``audience`` as ``plan_audience`` does, one committed part after the other
    (``max_parts`` of them at most; the rest waits for a call with the same key).

    Called again with the same ``idempotency_key``, it finishes a send left ``freezing`` (a
    process that stopped half-way) or reports the finished one as a duplicate.
    """
    if first_part < 1 or part < 1:
        raise ValueError("a part holds at least one friend")
    with database.session_scope() as session:
        now = utcnow()
        channel = session.get_one(Channel, channel_id)
        opened = open_send(
            session,
            channel=channel,
            messages=messages,
            idempotency_key=idempotency_key,
            source=source,
            due_at=due_at,
            respect_quiet_hours=respect_quiet_hours,
            aggregation_unit=aggregation_unit,
            state=AudienceState.FREEZING,
            now=now,
        )
    send_id, resume_at = opened.send_id, opened.resume_at
    created = send_id is not None
    if send_id is None:
        with database.session_scope() as session:
            send_id = session.scalars(
                select(AudienceSend.id).where(AudienceSend.idempotency_key == idempotency_key)
            ).one()
    size, parts = first_part, 0
    while max_parts is None or parts < max_parts:
        with database.session_scope() as session:
            if freeze_next_part(session, send_id=send_id, audience=audience, size=size):
                break
        size, parts = part, parts + 1
    with database.session_scope() as session:
        result = existing(session, idempotency_key, duplicate=not created)
    if created:
        result.deferred_until = resume_at
    return result


def freeze_next_part(
    session: Session, *, send_id: int, audience: Select[Any], size: int, now: datetime | None = None
) -> bool:
    """Freeze the next ``size`` friend ids of a ``freezing`` send; True once it is whole (or no
    longer freezing: cancelled)."""
    now = now or utcnow()
    send = session.get_one(AudienceSend, send_id, with_for_update=True, populate_existing=True)
    if send.state != AudienceState.FREEZING:
        return True
    channel = session.get_one(Channel, send.channel_id)
    policy = guardrails.PolicyBook(session, channel.shop_id).for_source(send.source)
    resume_at = guardrails.held_until(
        send.due_at, now, policy, channel.timezone, respect_quiet_hours=send.respect_quiet_hours
    )
    after = send.frozen_through or 0
    through = session.scalar(
        select(Friend.id)
        .where(Friend.channel_id == channel.id, Friend.id > after)
        .order_by(Friend.id)
        .offset(size - 1)
        .limit(1)
    )
    freeze = Freeze(
        send_id=send.id,
        channel=channel,
        content_hash=send.content_hash,
        next_attempt_at=resume_at or send.due_at,
        policy=policy,
        now=now,
        source=send.source,
        after=after,
        through=through,
    )
    planned, _batches, suppressed = freeze_audience(session, freeze, audience)
    send.planned += planned
    send.suppressed = dict(Counter(send.suppressed) + suppressed)
    send.frozen_through = through
    if through is None:
        send.state = AudienceState.QUEUED
    send.updated_at = now
    if planned:
        enqueue_after_commit(session, "messaging.dispatch")
    return through is None

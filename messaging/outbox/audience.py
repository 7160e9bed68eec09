"""Audience sends: one identical message set for a whole segment, with no row per friend.

``plan_audience`` freezes the audience in the caller's transaction: it resolves the segment's
``Select`` against the channel's friends, leaves out (and counts, by reason) those who blocked
the account, opted out or reached a frequency cap, and writes the rest as ``DeliveryBatch`` rows
of up to 500 friend ids. On PostgreSQL all of it is one statement, run inside the server. From
there the dispatcher treats an audience batch as any other batch: its id is the
``X-Line-Retry-Key``, it is claimed under a lease, every HTTP try is a ``DeliveryAttempt``, and
409 means sent. Just before a batch's first try the claim drops the friends who blocked or opted
out since the freeze (``DeliveryBatch.dropped``).

The send's idempotency key is unique: planning it twice freezes one audience. With
``quota_sender``, the whole audience is compared with the month's remaining quota and, if it
does not fit, held whole until ``service.release_held``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from core.clock import utcnow
from core.db import insert
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from messaging.outbox import guardrails, payloads, quota
from messaging.outbox.audience_freeze import Freeze, freeze_audience
from messaging.outbox.models import (
    AudienceSend,
    AudienceState,
    BatchState,
    DeliveryBatch,
    DeliveryState,
)

Message = dict[str, Any]


@dataclass(slots=True)
class AudienceResult:
    """What freezing an audience did (or, for a duplicate, what the first call did)."""

    send_id: int
    planned: int
    batches: int
    suppressed: Counter[str] = field(default_factory=Counter)
    duplicate: bool = False
    hold_reason: str | None = None
    # Quiet hours: the first try waits until then (the reason is on the send).
    deferred_until: datetime | None = None

    @property
    def held(self) -> bool:
        return self.hold_reason is not None


def plan_audience(
    session: Session,
    *,
    channel: Channel,
    audience: Select[Any],
    messages: Sequence[Message],
    idempotency_key: str,
    source: str,
    due_at: datetime,
    quota_sender: LineSender | None = None,
    respect_quiet_hours: bool = True,
    aggregation_unit: str | None = None,
    now: datetime | None = None,
) -> AudienceResult:
    """Freeze ``audience`` (a ``Select`` of friend ids) into batches of one message set
    (counted under LINE's custom ``aggregation_unit``, if given).

    Friends of other channels are ignored. ``idempotency_key`` (e.g. ``campaign:{id}:{run}``)
    makes a second call a no-op that reports the first. The caller commits; the dispatcher is
    nudged after the commit.
    """
    now = now or utcnow()
    opened = open_send(
        session,
        channel=channel,
        messages=messages,
        idempotency_key=idempotency_key,
        source=source,
        due_at=due_at,
        respect_quiet_hours=respect_quiet_hours,
        aggregation_unit=aggregation_unit,
        state=AudienceState.QUEUED,
        now=now,
    )
    send_id, policy, resume_at = opened.send_id, opened.policy, opened.resume_at
    if send_id is None:
        return existing(session, idempotency_key)
    freeze = Freeze(
        send_id=send_id,
        channel=channel,
        content_hash=opened.content_hash,
        next_attempt_at=resume_at or due_at,
        policy=policy,
        now=now,
        source=source,
    )
    planned, batches, suppressed = freeze_audience(session, freeze, audience)
    result = AudienceResult(
        send_id=send_id,
        planned=planned,
        batches=batches,
        suppressed=suppressed,
        deferred_until=resume_at,
    )
    if quota_sender is not None and planned:
        check = quota.check_quota(
            session,
            sender=quota_sender,
            channel_id=channel.id,
            needed=planned,
            excluding_audience_send=send_id,
        )
        if not check.fits:
            result.hold_reason = check.reason
            session.execute(
                update(DeliveryBatch)
                .where(DeliveryBatch.audience_send_id == send_id)
                .values(state=BatchState.HELD, last_error=check.reason, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    totals: dict[str, Any] = {"planned": planned, "suppressed": dict(suppressed)}
    if result.held:
        totals.update(state=AudienceState.HELD, reason=result.hold_reason)
    session.execute(
        update(AudienceSend)
        .where(AudienceSend.id == send_id)
        .values(**totals)
        .execution_options(synchronize_session=False)
    )
    if planned and not result.held:
        enqueue_after_commit(session, "messaging.dispatch")
    return result


@dataclass(frozen=True, slots=True)
class OpenedSend:
    """A send's row as planned: its id (None when the idempotency key already had one), its
    message set's hash, its source's guardrails and when quiet hours let it first go."""

    send_id: int | None
    content_hash: str
    policy: guardrails.Policy
    resume_at: datetime | None


def open_send(
    session: Session,
    *,
    channel: Channel,
    messages: Sequence[Message],
    idempotency_key: str,
    source: str,
    due_at: datetime,
    respect_quiet_hours: bool,
    aggregation_unit: str | None,
    state: AudienceState,
    now: datetime,
) -> OpenedSend:
    """Store the checked message set and insert the send's row in ``state``, nothing frozen."""
    body = payloads.validate(messages)
    digest = payloads.content_hash(body, aggregation_unit)
    payloads.store(session, {digest: body}, now=now, aggregation_unit=aggregation_unit)
    policy = guardrails.PolicyBook(session, channel.shop_id).for_source(source)
    resume_at = guardrails.held_until(
        due_at, now, policy, channel.timezone, respect_quiet_hours=respect_quiet_hours
    )
    send_id = session.scalar(
        insert(session, AudienceSend)
        .values(
            shop_id=channel.shop_id,
            channel_id=channel.id,
            idempotency_key=idempotency_key,
            source=source,
            content_hash=digest,
            state=state,
            reason=guardrails.quiet_reason(resume_at, channel.timezone) if resume_at else None,
            due_at=due_at,
            respect_quiet_hours=respect_quiet_hours,
            planned=0,
            suppressed={},
            frozen_through=0 if state == AudienceState.FREEZING else None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(AudienceSend.id)
    )
    return OpenedSend(send_id, digest, policy, resume_at)


def existing(session: Session, idempotency_key: str, *, duplicate: bool = True) -> AudienceResult:
    """What the send of ``idempotency_key`` planned (a repeated call: ``duplicate``)."""
    send = session.scalars(
        select(AudienceSend).where(AudienceSend.idempotency_key == idempotency_key)
    ).one()
    batches = session.scalar(select(func.count()).where(DeliveryBatch.audience_send_id == send.id))
    return AudienceResult(
        send_id=send.id,
        planned=send.planned,
        batches=batches or 0,
        suppressed=Counter(send.suppressed),
        duplicate=duplicate,
        hold_reason=send.reason if send.state == AudienceState.HELD else None,
    )


# Reading and changing sends after planning (``service`` merges these with per-friend rows)

_STATE_OF_BATCH = {
    BatchState.QUEUED: DeliveryState.PENDING,
    BatchState.RETRYING: DeliveryState.PENDING,
    BatchState.SENDING: DeliveryState.SENDING,
    BatchState.SENT: DeliveryState.SENT,
    BatchState.FAILED: DeliveryState.FAILED,
    BatchState.HELD: DeliveryState.HELD,
    BatchState.CANCELLED: DeliveryState.CANCELLED,
    BatchState.UNCERTAIN: DeliveryState.UNCERTAIN,
}


def counts_by_state(session: Session, *, source: str) -> Counter[str]:
    """A source's audience sends as friends per delivery state (suppressed included)."""
    counts: Counter[str] = Counter()
    batches = session.execute(
        select(DeliveryBatch.state, func.sum(DeliveryBatch.recipients))
        .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
        .where(AudienceSend.source == source)
        .group_by(DeliveryBatch.state)
    )
    for state, friends in batches:
        counts[_STATE_OF_BATCH[BatchState(state)]] += int(friends or 0)
    counts[DeliveryState.SUPPRESSED] += sum(suppressed_by_reason(session, source=source).values())
    return +counts


def suppressed_by_reason(session: Session, *, source: str) -> Counter[str]:
    """Friends left out of a source's audience sends, by reason: when frozen, or when sent."""
    reasons: Counter[str] = Counter()
    for left_out in session.scalars(
        select(AudienceSend.suppressed).where(AudienceSend.source == source)
    ):
        reasons.update(left_out)
    for dropped in session.scalars(
        select(DeliveryBatch.dropped)
        .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
        .where(AudienceSend.source == source, DeliveryBatch.dropped.is_not(None))
    ):
        reasons.update(dropped)
    return reasons


def cancel(session: Session, *, source: str, reason: str, now: datetime) -> int:
    """Cancel the batches of a source's audience sends that no request carried yet."""
    sends = select(AudienceSend.id).where(AudienceSend.source == source)
    cancelled = session.scalar(
        select(func.coalesce(func.sum(DeliveryBatch.recipients), 0)).where(
            DeliveryBatch.audience_send_id.in_(sends),
            DeliveryBatch.state.in_([BatchState.QUEUED, BatchState.HELD]),
        )
    )
    session.execute(
        update(DeliveryBatch)
        .where(
            DeliveryBatch.audience_send_id.in_(sends),
            DeliveryBatch.state.in_([BatchState.QUEUED, BatchState.HELD]),
        )
        .values(state=BatchState.CANCELLED, last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AudienceSend)
        .where(AudienceSend.source == source)
        .values(state=AudienceState.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(cancelled or 0)


def held(session: Session, *, source: str) -> tuple[int | None, int]:
    """(channel id, friends) of a source's audience batches waiting for the quota."""
    row = session.execute(
        select(DeliveryBatch.channel_id, func.sum(DeliveryBatch.recipients))
        .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
        .where(AudienceSend.source == source, DeliveryBatch.state == BatchState.HELD)
        .group_by(DeliveryBatch.channel_id)
    ).first()
    return (None, 0) if row is None else (row[0], int(row[1]))


def release(session: Session, *, source: str, now: datetime) -> None:
    """Queue a source's held audience batches again, with the keys they were frozen with."""
    sends = select(AudienceSend.id).where(AudienceSend.source == source)
    session.execute(
        update(DeliveryBatch)
        .where(DeliveryBatch.audience_send_id.in_(sends), DeliveryBatch.state == BatchState.HELD)
        .values(state=BatchState.QUEUED, last_error=None, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AudienceSend)
        .where(AudienceSend.id.in_(sends), AudienceSend.state == AudienceState.HELD)
        .values(state=AudienceState.QUEUED, reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )

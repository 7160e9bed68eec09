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

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from core.clock import utcnow
from core.db import insert
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging import guardrails, payloads
from messaging.models import (
    AudienceSend,
    AudienceState,
    BatchState,
    Consent,
    Delivery,
    DeliveryBatch,
    DeliveryState,
)
from messaging.sql import is_postgres

MULTICAST_MAX = 500
FREEZE_WORK_MEM = "128MB"
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
    now: datetime | None = None,
) -> AudienceResult:
    """Freeze ``audience`` (a ``Select`` of friend ids) into batches of one message set.

    Friends of other channels are ignored. ``idempotency_key`` (e.g. ``campaign:{id}:{run}``)
    makes a second call a no-op that reports the first. The caller commits; the dispatcher is
    nudged after the commit.
    """
    now = now or utcnow()
    body = payloads.validate(messages)
    digest = payloads.content_hash(body)
    payloads.store(session, {digest: body}, now=now)
    policy = guardrails.PolicyBook(session, channel.shop_id).for_source(source)
    resume_at = (
        guardrails.quiet_hours_end(max(due_at, now), policy, channel.timezone)
        if respect_quiet_hours
        else None
    )
    send_id = session.scalar(
        insert(session, AudienceSend)
        .values(
            shop_id=channel.shop_id,
            channel_id=channel.id,
            idempotency_key=idempotency_key,
            source=source,
            content_hash=digest,
            state=AudienceState.QUEUED,
            reason=guardrails.quiet_reason(resume_at, channel.timezone) if resume_at else None,
            due_at=due_at,
            respect_quiet_hours=respect_quiet_hours,
            planned=0,
            suppressed={},
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(AudienceSend.id)
    )
    if send_id is None:
        return _existing(session, idempotency_key)
    freeze = _Freeze(
        send_id=send_id,
        channel=channel,
        content_hash=digest,
        next_attempt_at=resume_at or due_at,
        policy=policy,
        now=now,
    )
    if is_postgres(session):
        planned, batches, suppressed = _freeze_in_server(session, freeze, audience)
    else:
        planned, batches, suppressed = _freeze_in_process(session, freeze, audience)
    result = AudienceResult(
        send_id=send_id,
        planned=planned,
        batches=batches,
        suppressed=suppressed,
        deferred_until=resume_at,
    )
    if quota_sender is not None and planned:
        check = guardrails.check_quota(
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


def _existing(session: Session, idempotency_key: str) -> AudienceResult:
    send = session.scalars(
        select(AudienceSend).where(AudienceSend.idempotency_key == idempotency_key)
    ).one()
    batches = session.scalar(select(func.count()).where(DeliveryBatch.audience_send_id == send.id))
    return AudienceResult(
        send_id=send.id,
        planned=send.planned,
        batches=batches or 0,
        suppressed=Counter(send.suppressed),
        duplicate=True,
        hold_reason=send.reason if send.state == AudienceState.HELD else None,
    )


@dataclass(frozen=True, slots=True)
class _Freeze:
    send_id: int
    channel: Channel
    content_hash: str
    next_attempt_at: datetime
    policy: guardrails.Policy
    now: datetime


def _freeze_in_server(
    session: Session, freeze: _Freeze, audience: Select[Any]
) -> tuple[int, int, Counter[str]]:
    """One statement: classify the audience, insert the batches, count who was left out."""
    # A million-friend audience is hashed and sorted twice: in memory, not in temporary files.
    # SET LOCAL ends with the caller's transaction.
    session.execute(text(f"SET LOCAL work_mem = '{FREEZE_WORK_MEM}'"))
    recent = _recent_sends(freeze) if freeze.policy.capped else None
    reason = case(*_reason_whens(freeze.policy, recent), else_=null())
    source = Friend.__table__
    if recent is not None:
        source = source.outerjoin(recent, recent.c.friend_id == Friend.id)
    classified = (
        select(Friend.id.label("friend_id"), reason.label("reason"))
        .select_from(source)
        .where(Friend.channel_id == freeze.channel.id, Friend.id.in_(audience))
        .cte("classified")
    )
    numbered = (
        select(
            classified.c.friend_id,
            ((func.row_number().over(order_by=classified.c.friend_id) - 1) // MULTICAST_MAX).label(
                "n"
            ),
        )
        .where(classified.c.reason.is_(None))
        .subquery("numbered")
    )
    size = func.count()
    batch_rows = select(
        cast(func.gen_random_uuid(), String),
        literal(freeze.channel.id),
        case((size > 1, "multicast"), else_="push"),
        literal(freeze.content_hash),
        size,
        literal(BatchState.QUEUED.value),
        literal(0),
        literal(freeze.next_attempt_at, DeliveryBatch.next_attempt_at.type),
        literal(freeze.send_id),
        func.array_agg(aggregate_order_by(numbered.c.friend_id, numbered.c.friend_id)),
        literal(freeze.now, DeliveryBatch.created_at.type),
        literal(freeze.now, DeliveryBatch.updated_at.type),
    ).group_by(numbered.c.n)
    columns = [
        "id",
        "channel_id",
        "endpoint",
        "content_hash",
        "recipients",
        "state",
        "attempts",
        "next_attempt_at",
        "audience_send_id",
        "friend_ids",
        "created_at",
        "updated_at",
    ]
    inserted = (
        pg_insert(DeliveryBatch)
        .from_select(columns, batch_rows)
        .returning(DeliveryBatch.recipients)
        .cte("inserted")
    )
    left_out = select(
        classified.c.reason, func.count().label("friends"), literal(0).label("batches")
    ).where(classified.c.reason.is_not(None))
    summary = union_all(
        left_out.group_by(classified.c.reason),
        select(
            cast(null(), String),
            func.coalesce(func.sum(inserted.c.recipients), 0),
            func.count(),
        ),
    )
    planned, batches, suppressed = 0, 0, Counter[str]()
    for reason_text, friends, batch_count in session.execute(summary):
        if reason_text is None:
            planned, batches = int(friends), int(batch_count)
        else:
            suppressed[reason_text] = int(friends)
    return planned, batches, suppressed


def _recent_sends(freeze: _Freeze) -> Any:
    """Per friend, messages sent in the last week and day: deliveries and audience batches."""
    week_ago, day_ago = freeze.now - guardrails.WEEK, freeze.now - guardrails.DAY
    rows = union_all(
        select(Delivery.friend_id.label("friend_id"), Delivery.sent_at.label("sent_at")).where(
            Delivery.state == DeliveryState.SENT, Delivery.sent_at > week_ago
        ),
        select(
            func.unnest(DeliveryBatch.friend_ids).label("friend_id"),
            DeliveryBatch.sent_at.label("sent_at"),
        ).where(
            DeliveryBatch.audience_send_id.is_not(None),
            DeliveryBatch.state == BatchState.SENT,
            DeliveryBatch.sent_at > week_ago,
        ),
    ).subquery("recent_rows")
    return (
        select(
            rows.c.friend_id,
            func.count().label("week"),
            func.count().filter(rows.c.sent_at > day_ago).label("day"),
        )
        .group_by(rows.c.friend_id)
        .subquery("recent")
    )


def _reason_whens(policy: guardrails.Policy, recent: Any) -> list[tuple[Any, Any]]:
    opted_out = select(Consent.friend_id).where(Consent.opted_out.is_(True))
    whens: list[tuple[Any, Any]] = [
        (Friend.status != FriendStatus.FOLLOWED, literal(guardrails.BLOCKED_REASON)),
        (Friend.id.in_(opted_out), literal(guardrails.OPTED_OUT_REASON)),
    ]
    if recent is not None and policy.per_day is not None:
        whens.append(
            (
                func.coalesce(recent.c.day, 0) >= literal(policy.per_day, Integer),
                literal(guardrails.day_cap_reason(policy.per_day)),
            )
        )
    if recent is not None and policy.per_week is not None:
        whens.append(
            (
                func.coalesce(recent.c.week, 0) >= literal(policy.per_week, Integer),
                literal(guardrails.week_cap_reason(policy.per_week)),
            )
        )
    return whens


def _freeze_in_process(
    session: Session, freeze: _Freeze, audience: Select[Any]
) -> tuple[int, int, Counter[str]]:
    """The same freeze on SQLite (the embedded runtime), with the guardrails in Python."""
    statuses = dict(
        session.execute(
            select(Friend.id, Friend.status)
            .where(Friend.channel_id == freeze.channel.id, Friend.id.in_(audience))
            .order_by(Friend.id)
        ).all()
    )
    reasons = {
        friend_id: guardrails.BLOCKED_REASON
        for friend_id, status in statuses.items()
        if status != FriendStatus.FOLLOWED
    }
    reachable = [f for f in statuses if f not in reasons]
    reasons.update(
        dict.fromkeys(guardrails.opted_out(session, reachable), guardrails.OPTED_OUT_REASON)
    )
    reachable = [f for f in reachable if f not in reasons]
    reasons.update(guardrails.over_caps(session, reachable, freeze.policy, now=freeze.now))
    members = [f for f in statuses if f not in reasons]
    rows = [
        DeliveryBatch(
            id=str(uuid.uuid4()),
            channel_id=freeze.channel.id,
            endpoint="multicast" if len(chunk) > 1 else "push",
            content_hash=freeze.content_hash,
            recipients=len(chunk),
            state=BatchState.QUEUED,
            attempts=0,
            next_attempt_at=freeze.next_attempt_at,
            audience_send_id=freeze.send_id,
            friend_ids=chunk,
            created_at=freeze.now,
            updated_at=freeze.now,
        )
        for chunk in (
            members[start : start + MULTICAST_MAX]
            for start in range(0, len(members), MULTICAST_MAX)
        )
    ]
    session.add_all(rows)
    session.flush()
    return len(members), len(rows), Counter(reasons.values())


# Reading and changing sends after planning (``service`` merges these with per-friend rows)

_STATE_OF_BATCH = {
    BatchState.QUEUED: DeliveryState.PENDING,
    BatchState.RETRYING: DeliveryState.PENDING,
    BatchState.SENDING: DeliveryState.SENDING,
    BatchState.SENT: DeliveryState.SENT,
    BatchState.FAILED: DeliveryState.FAILED,
    BatchState.HELD: DeliveryState.HELD,
    BatchState.CANCELLED: DeliveryState.CANCELLED,
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
    for frozen in session.scalars(
        select(AudienceSend.suppressed).where(AudienceSend.source == source)
    ):
        reasons.update(frozen)
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

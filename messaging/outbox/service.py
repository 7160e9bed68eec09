"""Planning deliveries: the one way every trigger, campaign and reminder puts messages out.

``plan`` turns (recipients, messages) into ``Delivery`` rows, applying the guardrails, in bulk
and idempotently: a row's idempotency key is unique, so planning the same send twice (a trigger
firing twice, a job re-run after a crash) inserts nothing the second time. The dispatcher is
nudged after commit; what is due later is found by the sweeper.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from core import audit
from core.clock import utcnow
from core.db import rows_matched
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel, ChannelStatus
from idlink.models import Friend, FriendStatus
from messaging.outbox import audience, consent, delivery_rows, guardrails, payloads, quota
from messaging.outbox.audience import AudienceResult, plan_audience
from messaging.outbox.audience_parts import plan_audience_in_parts
from messaging.outbox.models import Delivery, DeliveryState
from messaging.outbox.sql import any_of

__all__ = [
    "AudienceResult",
    "PlanResult",
    "cancel",
    "counts_by_state",
    "plan",
    "plan_audience",
    "plan_audience_in_parts",
    "release_held",
    "resume_channel",
    "suppressed_by_reason",
]

CHUNK = 10_000
Message = dict[str, Any]
Messages = Sequence[Message] | Callable[[int], Sequence[Message]]


@dataclass(slots=True)
class PlanResult:
    """What planning did: new rows by outcome, and sends that already existed."""

    planned: int = 0
    duplicates: int = 0
    deferred: int = 0
    held: int = 0
    not_friends: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    hold_reason: str | None = None

    @property
    def created(self) -> int:
        """Rows inserted by this call (pending, held or suppressed)."""
        return self.planned + self.held + sum(self.suppressed.values())

    def add(self, other: PlanResult) -> None:
        """Fold a chunk's result into this one."""
        self.planned += other.planned
        self.duplicates += other.duplicates
        self.deferred += other.deferred
        self.held += other.held
        self.not_friends += other.not_friends
        self.suppressed.update(other.suppressed)
        self.hold_reason = self.hold_reason or other.hold_reason


@dataclass(frozen=True, slots=True)
class _Send:
    """What every row of one ``plan`` call shares."""

    channel: Channel
    source: str
    due_at: datetime
    next_attempt_at: datetime
    quiet_reason: str | None
    respect_quiet_hours: bool
    policy: guardrails.Policy
    hold_reason: str | None
    aggregation_unit: str | None
    now: datetime


def plan(
    session: Session,
    *,
    channel: Channel,
    recipients: Iterable[int],
    messages: Messages,
    idempotency_key_for: Callable[[int], str],
    due_at: datetime,
    source: str,
    quota_sender: LineSender | None = None,
    respect_quiet_hours: bool = True,
    aggregation_unit: str | None = None,
    now: datetime | None = None,
) -> PlanResult:
    """Plan ``messages`` for each friend id in ``recipients`` (friends of ``channel``).

    ``messages`` is one message set for all, or a function of the friend id (personalised);
    either is checked against LINE's rules first. With ``quota_sender``, a send that would
    exceed the month's remaining quota is planned as ``held`` in full, never half-sent.
    ``aggregation_unit`` names the LINE custom aggregation unit the messages are counted under.
    """
    now = now or utcnow()
    friend_ids = list(dict.fromkeys(recipients))
    shared = _validated_shared(messages, aggregation_unit)
    policy = guardrails.PolicyBook(session, channel.shop_id).for_source(source)
    send = _prepare(channel, source, due_at, policy, respect_quiet_hours, aggregation_unit, now)
    if quota_sender is not None:
        check = quota.check_quota(
            session, sender=quota_sender, channel_id=channel.id, needed=len(friend_ids)
        )
        if not check.fits:
            send = replace(send, hold_reason=check.reason)
    result = PlanResult(hold_reason=send.hold_reason)
    for chunk in _chunks(friend_ids, CHUNK):
        result.add(_plan_chunk(session, send, chunk, messages, shared, idempotency_key_for))
    if result.planned:
        enqueue_after_commit(session, "messaging.dispatch")
    return result


def _validated_shared(
    messages: Messages, aggregation_unit: str | None
) -> tuple[list[Message], str] | None:
    if callable(messages):
        return None
    checked = payloads.validate(messages)
    return checked, payloads.content_hash(checked, aggregation_unit)


def _prepare(
    channel: Channel,
    source: str,
    due_at: datetime,
    policy: guardrails.Policy,
    respect_quiet_hours: bool,
    aggregation_unit: str | None,
    now: datetime,
) -> _Send:
    resume_at = guardrails.held_until(
        due_at, now, policy, channel.timezone, respect_quiet_hours=respect_quiet_hours
    )
    return _Send(
        channel=channel,
        source=source,
        due_at=due_at,
        next_attempt_at=resume_at or due_at,
        quiet_reason=guardrails.quiet_reason(resume_at, channel.timezone) if resume_at else None,
        respect_quiet_hours=respect_quiet_hours,
        policy=policy,
        hold_reason=None,
        aggregation_unit=aggregation_unit,
        now=now,
    )


def _personalised(
    messages: Messages, friend_id: int, aggregation_unit: str | None
) -> tuple[list[Message], str]:
    assert callable(messages)
    body = payloads.validate(messages(friend_id))
    return body, payloads.content_hash(body, aggregation_unit)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _plan_chunk(
    session: Session,
    send: _Send,
    friend_ids: list[int],
    messages: Messages,
    shared: tuple[list[Message], str] | None,
    idempotency_key_for: Callable[[int], str],
) -> PlanResult:
    result = PlanResult()
    statuses = dict(
        session.execute(
            select(Friend.id, Friend.status).where(
                Friend.channel_id == send.channel.id, any_of(session, Friend.id, friend_ids)
            )
        ).all()
    )
    result.not_friends = len(friend_ids) - len(statuses)
    reasons = _suppression_reasons(session, send, statuses)
    columns = delivery_rows.Columns()
    contents: dict[str, list[Message]] = {}
    for friend_id in friend_ids:
        if friend_id not in statuses:
            continue
        body, digest = shared or _personalised(messages, friend_id, send.aggregation_unit)
        contents.setdefault(digest, body)
        state, reason = _state_for(send, reasons.get(friend_id))
        columns.append(friend_id, idempotency_key_for(friend_id), digest, state, reason)
    payloads.store(session, contents, now=send.now, aggregation_unit=send.aggregation_unit)
    inserted = delivery_rows.insert_new(
        session,
        columns,
        shared={
            "shop_id": send.channel.shop_id,
            "channel_id": send.channel.id,
            "source": send.source,
            "due_at": send.due_at,
            "next_attempt_at": send.next_attempt_at,
            "respect_quiet_hours": send.respect_quiet_hours,
        },
        now=send.now,
    )
    result.duplicates = len(columns.friend_ids) - len(inserted)
    for state, reason in inserted:
        if state == DeliveryState.SUPPRESSED:
            assert reason is not None  # a suppressed row always says why
            result.suppressed[reason] += 1
        elif state == DeliveryState.HELD:
            result.held += 1
        else:
            result.planned += 1
            result.deferred += reason is not None
    return result


def _suppression_reasons(session: Session, send: _Send, statuses: dict[int, str]) -> dict[int, str]:
    """Why each friend of the chunk gets nothing: blocked, opted out (of all messages or of
    the send's purpose), or over a cap."""
    reasons = {
        fid: guardrails.BLOCKED_REASON
        for fid, status in statuses.items()
        if status != FriendStatus.FOLLOWED
    }
    reachable = [fid for fid in statuses if fid not in reasons]
    reasons.update(consent.withheld(session, reachable, source=send.source))
    reachable = [fid for fid in reachable if fid not in reasons]
    reasons.update(guardrails.over_caps(session, reachable, send.policy, now=send.now))
    return reasons


def _state_for(send: _Send, suppressed: str | None) -> tuple[str, str | None]:
    """A new row's state and reason: suppressed, held for the quota, or pending."""
    if suppressed is not None:
        return DeliveryState.SUPPRESSED, suppressed
    if send.hold_reason is not None:
        return DeliveryState.HELD, send.hold_reason
    return DeliveryState.PENDING, send.quiet_reason


def cancel(session: Session, *, source: str, reason: str, now: datetime | None = None) -> int:
    """Cancel a source's messages not yet handed to LINE (pending or held); return how many."""
    now = now or utcnow()
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.source == source,
            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) + audience.cancel(session, source=source, reason=reason, now=now)


def hold(session: Session, *, source: str, reason: str, now: datetime | None = None) -> int:
    """Keep a source's unsent deliveries back (a paused campaign) until ``unhold``."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.source == source,
            Delivery.state == DeliveryState.PENDING,
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.HELD, reason=reason, updated_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def unhold(session: Session, *, source: str, reason: str, now: datetime | None = None) -> int:
    """Let what ``hold`` kept back with ``reason`` go again; what fell due meanwhile goes now."""
    now = now or utcnow()
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.source == source,
            Delivery.state == DeliveryState.HELD,
            Delivery.reason == reason,
        )
        .values(state=DeliveryState.PENDING, reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result):
        enqueue_after_commit(session, "messaging.dispatch")
    return rows_matched(result)


def release_held(
    session: Session, *, source: str, quota_sender: LineSender, now: datetime | None = None
) -> quota.QuotaCheck:
    """Send a held source once the quota allows all of it (all or nothing).

    Held are the source's per-friend deliveries and its audience batches, counted together.
    """
    now = now or utcnow()
    held = select(Delivery.id).where(
        Delivery.source == source, Delivery.state == DeliveryState.HELD
    )
    count = session.scalar(select(func.count()).select_from(held.subquery())) or 0
    channel_id = session.scalar(
        select(Delivery.channel_id).where(Delivery.source == source).limit(1)
    )
    audience_channel, audience_count = audience.held(session, source=source)
    channel_id = channel_id or audience_channel
    if channel_id is None or count + audience_count == 0:
        return quota.QuotaCheck(needed=0, remaining=None)
    check = quota.check_quota(
        session, sender=quota_sender, channel_id=channel_id, needed=count + audience_count
    )
    if check.fits:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(held))
            .values(state=DeliveryState.PENDING, reason=None, next_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        audience.release(session, source=source, now=now)
        enqueue_after_commit(session, "messaging.dispatch")
    return check


def resume_channel(
    session: Session, *, channel: Channel, actor: str, now: datetime | None = None
) -> None:
    """Let a paused channel send again (after its token was fixed); its queue resumes."""
    channel.status = ChannelStatus.ACTIVE
    audit.record(
        session,
        shop_id=channel.shop_id,
        actor=actor,
        action="channel.resumed",
        subject_type="channel",
        subject_id=channel.id,
        now=now,
    )
    enqueue_after_commit(session, "messaging.dispatch")


def counts_by_state(session: Session, *, source: str) -> dict[str, int]:
    """How many of a source's messages are in each state: deliveries and audience sends."""
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.source == source)
        .group_by(Delivery.state)
    )
    counts = Counter({state: count for state, count in rows})
    counts.update(audience.counts_by_state(session, source=source))
    return dict(counts)


def suppressed_by_reason(session: Session, *, source: str) -> dict[str, int]:
    """Why a source's messages were not sent: friends by reason, deliveries and audiences."""
    rows = session.execute(
        select(Delivery.reason, func.count())
        .where(Delivery.source == source, Delivery.state == DeliveryState.SUPPRESSED)
        .group_by(Delivery.reason)
    )
    reasons = Counter({reason or "": count for reason, count in rows})
    reasons.update(audience.suppressed_by_reason(session, source=source))
    return dict(reasons)

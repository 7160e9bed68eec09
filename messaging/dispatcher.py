"""The dispatcher: claims due deliveries, sends them to LINE in batches, records every try.

1. **Claim** (one transaction): due pending rows are locked (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes the claim single-writer), checked against the
   guardrails once more, and grouped by content into batches: a multicast of up to 500 friends,
   or a push for one. Each batch gets a fresh UUID, its ``X-Line-Retry-Key``, committed with the
   claim *before* any request leaves.
2. **Send** each batch through the rate limiter and the official SDK.
3. **Record** the answer (a commit per HTTP try, the stated exception to one commit per unit of
   work): 200 and 409 are sent; 429/5xx/timeouts retry the same batch with the same key after
   an exponential backoff with jitter; other 4xx fail with LINE's reason; 401/403 pause the
   channel; a monthly-quota refusal holds the messages.

A worker killed between send and record leaves its batch ``sending``; once the claim's lease
expires the sweeper hands the batch to another worker, whose resend with the same key LINE
answers 409: it is counted sent, and nobody receives it twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from connectors.line.client import ChannelCredentials
from connectors.line.sending import Accepted, FailureKind, LineSender, SendFailure
from core import audit
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging import guardrails
from messaging.limiter import LINE_RATE_LIMITS, RateLimiter, acquire
from messaging.models import (
    BatchState,
    Delivery,
    DeliveryAttempt,
    DeliveryBatch,
    DeliveryContent,
    DeliveryState,
)
from messaging.sql import any_of

log = logging.getLogger(__name__)

MULTICAST_MAX = 500
CHANNEL_ACTIVE = "active"
CHANNEL_PAUSED = "paused"
_PENDING_SQL = text("deliveries.state = 'pending'")
_random = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """How the dispatcher works; the defaults follow LINE's documented limits."""

    api_url: str
    claim_size: int = 2000
    lease_seconds: float = 30.0
    max_attempts: int = 10
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 300.0
    request_timeout_seconds: float = 10.0
    threads: int = 4
    max_run_seconds: float = 60.0
    rates: Mapping[str, float] = field(default_factory=lambda: dict(LINE_RATE_LIMITS))


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A claimed batch, as plain data: everything needed to send it without the database."""

    batch_id: str
    channel_id: int
    line_channel_id: str
    access_token: str
    endpoint: str
    user_ids: tuple[str, ...]
    messages: list[dict[str, Any]]
    attempts: int


@dataclass(slots=True)
class DispatchStats:
    """What one dispatcher run did."""

    requests: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: str, deliveries: int) -> None:
        with self._lock:
            self.requests += 1
            current = getattr(self, outcome)
            setattr(self, outcome, current + deliveries)


class SenderPool:
    """One SDK sender (connection pool) per channel token, shared by the run's threads."""

    def __init__(self, api_url: str, timeout: float) -> None:
        self._api_url = api_url
        self._timeout = timeout
        self._senders: dict[str, LineSender] = {}
        self._lock = threading.Lock()

    def get(self, access_token: str) -> LineSender:
        with self._lock:
            sender = self._senders.get(access_token)
            if sender is None:
                credentials = ChannelCredentials(access_token=access_token, api_url=self._api_url)
                sender = LineSender(credentials, timeout=self._timeout)
                self._senders[access_token] = sender
            return sender

    def close(self) -> None:
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()


def run(
    database: Database,
    *,
    config: DispatchConfig,
    limiter: RateLimiter,
    senders: SenderPool | None = None,
) -> DispatchStats:
    """Claim and send until nothing is due (or ``max_run_seconds`` passed), on a few threads."""
    stats = DispatchStats()
    pool = senders or SenderPool(config.api_url, config.request_timeout_seconds)
    deadline = time.monotonic() + config.max_run_seconds
    threads = [
        threading.Thread(
            target=_work,
            args=(database, config, limiter, pool, stats, deadline),
            name=f"tsunagu-dispatch-{n}",
            daemon=True,
        )
        for n in range(config.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if senders is None:
        pool.close()
    return stats


def _work(
    database: Database,
    config: DispatchConfig,
    limiter: RateLimiter,
    senders: SenderPool,
    stats: DispatchStats,
    deadline: float,
) -> None:
    while time.monotonic() < deadline:
        jobs = claim(database, config=config)
        if not jobs:
            return
        for job in jobs:
            send(database, job, config=config, limiter=limiter, senders=senders, stats=stats)


# Claiming


def claim(
    database: Database, *, config: DispatchConfig, now: datetime | None = None
) -> list[BatchJob]:
    """Claim due work in one transaction: batches waiting for a retry, else new deliveries."""
    now = now or utcnow()
    with database.session_scope() as session:
        batches = _claim_retries(session, config, now)
        if not batches:
            batches = _claim_new(session, config, now)
        return _jobs(session, batches)


def _lease(config: DispatchConfig, now: datetime) -> datetime:
    return now + timedelta(seconds=config.lease_seconds)


def _claim_retries(session: Session, config: DispatchConfig, now: datetime) -> list[DeliveryBatch]:
    """Batches due for another try: resent unchanged, with their own retry key."""
    batches = list(
        session.scalars(
            select(DeliveryBatch)
            .join(Channel, Channel.id == DeliveryBatch.channel_id)
            .where(
                DeliveryBatch.state == BatchState.RETRYING,
                DeliveryBatch.next_attempt_at <= now,
                Channel.status == CHANNEL_ACTIVE,
            )
            .order_by(DeliveryBatch.next_attempt_at)
            .limit(max(1, config.claim_size // MULTICAST_MAX))
            .with_for_update(skip_locked=True, of=DeliveryBatch)
        )
    )
    for batch in batches:
        batch.state, batch.lease_until, batch.updated_at = (
            BatchState.SENDING,
            _lease(config, now),
            now,
        )
    if batches:
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_([b.id for b in batches]))
            .where(Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SENDING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return batches


@dataclass(slots=True)
class _Due:
    id: int
    shop_id: int
    channel_id: int
    friend_id: int
    source: str
    content_hash: str
    respect_quiet_hours: bool
    friend_status: str


def _claim_new(session: Session, config: DispatchConfig, now: datetime) -> list[DeliveryBatch]:
    """Lock the next due deliveries, in due order, through the partial index of pending rows.

    The lock query touches ``deliveries`` alone (no join, no sort): it reads the first rows of
    the index and stops. What the guardrails need about the friends is read afterwards.
    """
    paused = select(Channel.id).where(Channel.status != CHANNEL_ACTIVE)
    locked = session.execute(
        select(
            Delivery.id,
            Delivery.shop_id,
            Delivery.channel_id,
            Delivery.friend_id,
            Delivery.source,
            Delivery.content_hash,
            Delivery.respect_quiet_hours,
        )
        .where(
            _PENDING_SQL,
            Delivery.batch_id.is_(None),
            Delivery.next_attempt_at <= now,
            Delivery.channel_id.not_in(paused),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(config.claim_size)
        .with_for_update(skip_locked=True)
    ).all()
    if not locked:
        return []
    statuses = dict(
        session.execute(
            select(Friend.id, Friend.status).where(
                any_of(session, Friend.id, {row.friend_id for row in locked})
            )
        ).all()
    )
    rows = [_Due(*row, friend_status=statuses.get(row.friend_id, "")) for row in locked]
    sendable = _apply_guardrails(session, rows, now)
    return _form_batches(session, sendable, config, now)


def _apply_guardrails(session: Session, rows: list[_Due], now: datetime) -> list[_Due]:
    """Suppress or defer what may no longer be sent now; return the rest."""
    outcome: dict[int, tuple[str, str | None, datetime | None]] = {}
    for row in rows:
        if row.friend_status != FriendStatus.FOLLOWED:
            outcome[row.id] = (DeliveryState.SUPPRESSED, guardrails.BLOCKED_REASON, None)
    alive = [r for r in rows if r.id not in outcome]
    opted_out = guardrails.opted_out(session, {r.friend_id for r in alive})
    for row in alive:
        if row.friend_id in opted_out:
            outcome[row.id] = (DeliveryState.SUPPRESSED, guardrails.OPTED_OUT_REASON, None)
    alive = [r for r in alive if r.id not in outcome]
    outcome.update(_policy_outcomes(session, alive, now))
    _write_outcomes(session, outcome, now)
    return [r for r in rows if r.id not in outcome]


def _policy_outcomes(
    session: Session, rows: list[_Due], now: datetime
) -> dict[int, tuple[str, str | None, datetime | None]]:
    """Quiet hours (defer to their end) and frequency caps (suppress), per source's policy."""
    outcome: dict[int, tuple[str, str | None, datetime | None]] = {}
    timezones = dict(
        session.execute(
            select(Channel.id, Channel.timezone).where(Channel.id.in_({r.channel_id for r in rows}))
        ).all()
    )
    by_policy: dict[tuple[int, str], list[_Due]] = defaultdict(list)
    for row in rows:
        by_policy[(row.shop_id, row.source)].append(row)
    books: dict[int, guardrails.PolicyBook] = {}
    for (shop_id, source), group in by_policy.items():
        book = books.get(shop_id) or books.setdefault(
            shop_id, guardrails.PolicyBook(session, shop_id)
        )
        policy = book.for_source(source)
        counted: dict[int, int] = defaultdict(int)
        capped = guardrails.over_caps(session, {r.friend_id for r in group}, policy, now=now)
        for row in group:
            timezone = timezones[row.channel_id]
            resume_at = (
                guardrails.quiet_hours_end(now, policy, timezone)
                if row.respect_quiet_hours
                else None
            )
            if resume_at is not None:
                reason = guardrails.quiet_reason(resume_at, timezone)
                outcome[row.id] = (DeliveryState.PENDING, reason, resume_at)
            elif row.friend_id in capped or _over_within_claim(policy, counted, row.friend_id):
                reason = capped.get(row.friend_id) or "frequency cap reached"
                outcome[row.id] = (DeliveryState.SUPPRESSED, reason, None)
            counted[row.friend_id] += 1
    return outcome


def _over_within_claim(policy: guardrails.Policy, counted: dict[int, int], friend_id: int) -> bool:
    """Several deliveries of one friend in a single claim count against the caps together."""
    limits = [c for c in (policy.per_day, policy.per_week) if c is not None]
    return bool(limits) and counted[friend_id] >= min(limits)


def _write_outcomes(
    session: Session, outcome: dict[int, tuple[str, str | None, datetime | None]], now: datetime
) -> None:
    grouped: dict[tuple[str, str | None, datetime | None], list[int]] = defaultdict(list)
    for delivery_id, result in outcome.items():
        grouped[result].append(delivery_id)
    for (state, reason, next_at), ids in grouped.items():
        values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
        if next_at is not None:
            values["next_attempt_at"] = next_at
        session.execute(
            update(Delivery)
            .where(any_of(session, Delivery.id, ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _form_batches(
    session: Session, rows: list[_Due], config: DispatchConfig, now: datetime
) -> list[DeliveryBatch]:
    """Group by (channel, content) into requests of at most 500 distinct friends."""
    groups: dict[tuple[int, str], list[tuple[list[_Due], set[int]]]] = defaultdict(list)
    for row in rows:
        open_batches = groups[(row.channel_id, row.content_hash)]
        target = next(
            (
                (members, friends)
                for members, friends in open_batches
                if len(members) < MULTICAST_MAX and row.friend_id not in friends
            ),
            None,
        )
        if target is None:
            target = ([], set())
            open_batches.append(target)
        target[0].append(row)
        target[1].add(row.friend_id)
    batches = []
    for (channel_id, digest), members_list in groups.items():
        for members, _ in members_list:
            batch = DeliveryBatch(
                id=str(uuid.uuid4()),
                channel_id=channel_id,
                endpoint="multicast" if len(members) > 1 else "push",
                content_hash=digest,
                recipients=len(members),
                state=BatchState.SENDING,
                lease_until=_lease(config, now),
                created_at=now,
                updated_at=now,
            )
            session.add(batch)
            batches.append((batch, [m.id for m in members]))
    session.flush()
    for batch, ids in batches:
        session.execute(
            update(Delivery)
            .where(any_of(session, Delivery.id, ids))
            .values(state=DeliveryState.SENDING, batch_id=batch.id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return [batch for batch, _ in batches]


_contents: dict[str, list[dict[str, Any]]] = {}
_contents_lock = threading.Lock()


def _payload(session: Session, content_hash: str) -> list[dict[str, Any]]:
    """A content's messages; contents never change, so each is read once per process."""
    with _contents_lock:
        cached = _contents.get(content_hash)
    if cached is None:
        cached = session.get_one(DeliveryContent, content_hash).payload
        with _contents_lock:
            if len(_contents) > 10_000:
                _contents.clear()
            _contents[content_hash] = cached
    return cached


def _jobs(session: Session, batches: Iterable[DeliveryBatch]) -> list[BatchJob]:
    batches = list(batches)
    if not batches:
        return []
    recipients: dict[str, list[str]] = defaultdict(list)
    for batch_id, user_id in session.execute(
        select(Delivery.batch_id, Friend.line_user_id)
        .join(Friend, Friend.id == Delivery.friend_id)
        .where(Delivery.batch_id.in_([b.id for b in batches]))
        .order_by(Delivery.id)
    ):
        recipients[batch_id].append(user_id)
    channels = {
        c.id: c
        for c in session.scalars(
            select(Channel).where(Channel.id.in_({b.channel_id for b in batches}))
        )
    }
    return [
        BatchJob(
            batch_id=b.id,
            channel_id=b.channel_id,
            line_channel_id=channels[b.channel_id].line_channel_id,
            access_token=channels[b.channel_id].access_token,
            endpoint=b.endpoint,
            user_ids=tuple(recipients[b.id]),
            messages=_payload(session, b.content_hash),
            attempts=b.attempts,
        )
        for b in batches
    ]


# Sending and recording


def send(
    database: Database,
    job: BatchJob,
    *,
    config: DispatchConfig,
    limiter: RateLimiter,
    senders: SenderPool,
    stats: DispatchStats | None = None,
) -> str:
    """Send one claimed batch (after its rate-limit slot) and record the answer."""
    sender = senders.get(job.access_token)
    acquire(limiter, f"{job.line_channel_id}:{job.endpoint}", config.rates[job.endpoint])
    started_at = utcnow()
    started = time.perf_counter()
    answer: Accepted | SendFailure
    try:
        if job.endpoint == "push":
            answer = sender.push(job.user_ids[0], job.messages, retry_key=job.batch_id)
        else:
            answer = sender.multicast(job.user_ids, job.messages, retry_key=job.batch_id)
    except SendFailure as failure:
        answer = failure
    duration_ms = round((time.perf_counter() - started) * 1000)
    with database.session_scope() as session:
        outcome = record(
            session, job, answer, config=config, started_at=started_at, duration_ms=duration_ms
        )
    if stats is not None:
        stats.count(outcome, len(job.user_ids))
    return outcome


def record(
    session: Session,
    job: BatchJob,
    answer: Accepted | SendFailure,
    *,
    config: DispatchConfig,
    started_at: datetime,
    duration_ms: int,
    now: datetime | None = None,
) -> str:
    """Store one HTTP try and apply its outcome to the batch and its deliveries."""
    now = now or utcnow()
    attempt = DeliveryAttempt(
        batch_id=job.batch_id,
        retry_key=job.batch_id,
        endpoint=job.endpoint,
        status_code=answer.status,
        request_id=answer.request_id,
        outcome="accepted" if isinstance(answer, Accepted) else str(answer.kind),
        error=None if isinstance(answer, Accepted) else answer.reason,
        duration_ms=duration_ms,
        started_at=started_at,
    )
    session.add(attempt)
    batch = session.get_one(DeliveryBatch, job.batch_id, with_for_update=True)
    batch.attempts += 1
    batch.updated_at = now
    if isinstance(answer, Accepted):
        return _sent(session, batch, answer, now)
    if answer.kind == FailureKind.CHANNEL:
        return _pause_channel(session, batch, answer, now)
    if answer.kind == FailureKind.QUOTA:
        return _hold_for_quota(session, batch, answer, now)
    if answer.kind == FailureKind.RETRIABLE and batch.attempts < config.max_attempts:
        return _retry_later(session, batch, answer, config, now)
    reason = answer.reason
    if answer.kind == FailureKind.RETRIABLE:
        reason = f"gave up after {batch.attempts} tries: {answer.reason}"
    return _failed(session, batch, reason, now)


def _deliveries_of(batch: DeliveryBatch) -> Any:
    return update(Delivery).where(
        Delivery.batch_id == batch.id,
        Delivery.state.in_([DeliveryState.SENDING, DeliveryState.PENDING]),
    )


def _sent(session: Session, batch: DeliveryBatch, answer: Accepted, now: datetime) -> str:
    batch.state, batch.request_id, batch.last_error = BatchState.SENT, answer.request_id, None
    session.execute(
        _deliveries_of(batch)
        .values(
            state=DeliveryState.SENT,
            reason="already accepted under this retry key" if answer.duplicate else None,
            request_id=answer.request_id,
            sent_at=now,
            attempts=batch.attempts,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return "sent"


def backoff_seconds(attempts: int, config: DispatchConfig) -> float:
    """Exponential backoff with full jitter: uniform in [base, base·2^(n-1)], capped."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempts - 1))
    return _random.uniform(config.backoff_base_seconds, max(config.backoff_base_seconds, ceiling))


def _retry_later(
    session: Session,
    batch: DeliveryBatch,
    answer: SendFailure,
    config: DispatchConfig,
    now: datetime,
) -> str:
    next_at = now + timedelta(seconds=backoff_seconds(batch.attempts, config))
    batch.state, batch.next_attempt_at, batch.last_error = (
        BatchState.RETRYING,
        next_at,
        answer.reason,
    )
    session.execute(
        _deliveries_of(batch)
        .values(
            state=DeliveryState.PENDING,
            reason=f"retrying after {answer.reason}",
            next_attempt_at=next_at,
            attempts=batch.attempts,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return "retried"


def _failed(session: Session, batch: DeliveryBatch, reason: str, now: datetime) -> str:
    batch.state, batch.last_error = BatchState.FAILED, reason
    session.execute(
        _deliveries_of(batch)
        .values(state=DeliveryState.FAILED, reason=reason, attempts=batch.attempts, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return "failed"


def _pause_channel(
    session: Session, batch: DeliveryBatch, answer: SendFailure, now: datetime
) -> str:
    """The token was refused: stop the channel's sends and tell the shop (audit alert)."""
    channel = session.get_one(Channel, batch.channel_id, with_for_update=True)
    reason = f"channel paused: LINE refused the access token ({answer.reason})"
    if channel.status == CHANNEL_ACTIVE:
        channel.status = CHANNEL_PAUSED
        audit.record(
            session,
            shop_id=channel.shop_id,
            actor="dispatcher",
            action="channel.paused",
            subject_type="channel",
            subject_id=channel.id,
            now=now,
            reason=reason,
            fix="replace the channel's access token, then resume the channel",
        )
        log.error("channel %s paused: %s", channel.line_channel_id, answer.reason)
    # The request was refused, not accepted: the same batch waits for the channel to resume.
    batch.attempts -= 1
    batch.state, batch.next_attempt_at, batch.last_error = BatchState.RETRYING, now, reason
    session.execute(
        _deliveries_of(batch)
        .values(state=DeliveryState.PENDING, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return "retried"


def _hold_for_quota(
    session: Session, batch: DeliveryBatch, answer: SendFailure, now: datetime
) -> str:
    """LINE refused the batch for the monthly limit (nothing accepted): hold its messages."""
    batch.state, batch.last_error = BatchState.ABANDONED, answer.reason
    session.execute(
        _deliveries_of(batch)
        .values(
            state=DeliveryState.HELD,
            reason=f"monthly quota reached: {answer.reason}",
            batch_id=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return "held"


# Sweeping


def sweep(session: Session, *, now: datetime | None = None) -> int:
    """Recover lost work; return how many deliveries are due (the caller nudges a dispatcher).

    Batches whose claim lease expired (a killed worker) wait for a retry with their key; pending
    deliveries of friends who blocked the account are suppressed.
    """
    now = now or utcnow()
    expired = list(
        session.scalars(
            select(DeliveryBatch.id)
            .where(DeliveryBatch.state == BatchState.SENDING, DeliveryBatch.lease_until < now)
            .with_for_update(skip_locked=True)
        )
    )
    if expired:
        log.warning(
            "%d delivery batches outlived their lease; resending with their keys", len(expired)
        )
        session.execute(
            update(DeliveryBatch)
            .where(DeliveryBatch.id.in_(expired))
            .values(state=BatchState.RETRYING, next_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_(expired), Delivery.state == DeliveryState.SENDING)
            .values(state=DeliveryState.PENDING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    guardrails.suppress_blocked(session, now=now)
    due_batches = session.scalar(
        select(DeliveryBatch.id)
        .where(DeliveryBatch.state == BatchState.RETRYING, DeliveryBatch.next_attempt_at <= now)
        .limit(1)
    )
    due_rows = session.scalar(
        select(Delivery.id)
        .where(_PENDING_SQL, Delivery.batch_id.is_(None), Delivery.next_attempt_at <= now)
        .limit(1)
    )
    return int(due_batches is not None) + int(due_rows is not None)

"""The dispatcher: claims due deliveries, sends them to LINE in batches, records every try.

1. **Claim** (one transaction): due pending rows are locked (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes the claim single-writer), checked against the
   guardrails once more, and grouped by content into batches: a multicast of up to 500 friends,
   or a push for one. Each batch gets a fresh UUID, its ``X-Line-Retry-Key``, committed with the
   claim *before* any request leaves.
2. **Send** each batch through the rate limiter and the official SDK.
3. **Record** the answers, a group at a time (one ``DeliveryAttempt`` per HTTP try, one
   transaction per group: the stated exception to one commit per unit of work): 200 and 409 are
   sent; 429/5xx/timeouts retry the same batch with the same key after an exponential backoff
   with jitter; other 4xx fail with LINE's reason; 401/403 pause the channel; a monthly-quota
   refusal holds the messages.

A run's threads share its claims (``claim_queue``): the next claim is taken while the last one
is sent, and the lease of the batches not sent yet is renewed every third of the lease, so a
long claim stays the run's. A worker killed between send and record
leaves its batch ``sending``; once the claim's lease expires the sweeper hands the batch to
another worker, whose resend with the same key LINE answers 409: it is counted sent, and nobody
receives it twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.line.client import ChannelCredentials
from connectors.line.sending import Accepted, FailureKind, LineSender, SendFailure
from core.clock import utcnow
from core.db import Database
from messaging.outbox import guardrails
from messaging.outbox.batch_jobs import BatchJob
from messaging.outbox.claim_queue import ClaimQueue
from messaging.outbox.claims import PENDING_SQL, DispatchConfig, claim, renew
from messaging.outbox.limiter import RateLimiter, acquire
from messaging.outbox.models import BatchState, Delivery, DeliveryBatch, DeliveryState, Endpoint
from messaging.outbox.outcomes import Try, backoff_seconds, launch, record, record_all

__all__ = [
    "BatchJob",
    "DispatchConfig",
    "DispatchStats",
    "SenderPool",
    "backoff_seconds",
    "claim",
    "record",
    "renew",
    "run",
    "send",
    "sweep",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DispatchStats:
    """What one dispatcher run did."""

    requests: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    uncertain: int = 0
    # The run stopped at ``max_run_seconds`` rather than for want of due work: more may be due.
    cut_short: bool = False
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
    """Claim and send until nothing is due (or ``max_run_seconds`` passed), on a few threads.

    The threads share the run's claims: one claims while the others send, and each takes the
    next batch when it is free, so a claim of 2,000 pushes is spread over all of them (a
    thread keeping its own claim would leave the others idle while LINE answers it).
    """
    stats = DispatchStats()
    pool = senders or SenderPool(config.api_url, config.request_timeout_seconds)
    claims = ClaimQueue(database, config, deadline=time.monotonic() + config.max_run_seconds)
    threads = [
        threading.Thread(
            target=_work,
            args=(database, config, limiter, pool, stats, claims),
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
    stats.cut_short = claims.cut_short
    return stats


def _work(
    database: Database,
    config: DispatchConfig,
    limiter: RateLimiter,
    senders: SenderPool,
    stats: DispatchStats,
    claims: ClaimQueue,
) -> None:
    """Send the run's batches as they come, recording answers a group at a time."""
    answered: list[_Answered] = []
    try:
        while (job := claims.next()) is not None:
            answered.append(
                _request(database, job, config=config, limiter=limiter, senders=senders)
            )
            if (
                job.endpoint == Endpoint.REPLY
                or len(answered) >= RECORD_GROUP
                or answered[0].age() > RECORD_WITHIN_SECONDS
            ):
                _record_all(database, answered, config=config, stats=stats)
                answered = []
        _record_all(database, answered, config=config, stats=stats)
    except Exception:
        # A database outage, say: what this thread had claimed comes back after its lease.
        log.exception("dispatcher thread stopped; the sweeper will resume its batches")


# Sending

# Answers are recorded a group at a time, in one transaction: each try is still its own
# ``DeliveryAttempt``, and a worker killed before recording leaves batches the sweeper resends
# with their keys (answered 409). Recording waits at most this long: a second of answers is a
# few dozen pushes per thread, a group large enough that its five statements cost little.
# A reply has no key: its answer is recorded at once, so that a worker killed leaves at most
# the replies in flight without an answer (see ``reply_outcomes.reply_refused``).
RECORD_GROUP = 200
RECORD_WITHIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Answered:
    job: BatchJob
    answer: Accepted | SendFailure
    started_at: datetime
    duration_ms: int
    finished: float
    attempt_id: int | None

    def age(self) -> float:
        return time.monotonic() - self.finished


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
    answered = _request(database, job, config=config, limiter=limiter, senders=senders)
    (outcome,) = _record_all(database, [answered], config=config, stats=stats)
    return outcome


def _request(
    database: Database,
    job: BatchJob,
    *,
    config: DispatchConfig,
    limiter: RateLimiter,
    senders: SenderPool,
) -> _Answered:
    """One HTTP try of a batch, with its retry key, after the batch's rate-limit slot.

    A reply's try is committed before it leaves (the stated exception to one commit per unit
    of work): without a retry key, only that row tells a later try it may have reached LINE.
    """
    sender = senders.get(job.access_token)
    acquire(limiter, f"{job.line_channel_id}:{job.endpoint}", config.rates[job.endpoint])
    started_at = utcnow()
    attempt_id = None
    if job.endpoint == Endpoint.REPLY:
        with database.session_scope() as session:
            attempt_id = launch(session, job, started_at=started_at)
    started = time.perf_counter()
    answer: Accepted | SendFailure
    try:
        unit, content = job.aggregation_unit, job.content_hash
        if job.endpoint == Endpoint.REPLY and job.reply_token is not None:
            answer = sender.reply(job.reply_token, job.messages, content_key=content)
        elif job.endpoint == Endpoint.PUSH:
            answer = sender.push(
                job.user_ids[0],
                job.messages,
                retry_key=job.batch_id,
                aggregation_unit=unit,
                content_key=content,
            )
        else:
            answer = sender.multicast(
                job.user_ids,
                job.messages,
                retry_key=job.batch_id,
                aggregation_unit=unit,
                content_key=content,
            )
    except SendFailure as failure:
        answer = failure
    except ValueError as exc:
        # The SDK's models refused the request before sending it: it would fail the same again.
        answer = SendFailure(
            FailureKind.FATAL, f"the SDK refused the request: {exc}", status=None, request_id=None
        )
    duration_ms = round((time.perf_counter() - started) * 1000)
    return _Answered(job, answer, started_at, duration_ms, time.monotonic(), attempt_id)


def _record_all(
    database: Database,
    answered: list[_Answered],
    *,
    config: DispatchConfig,
    stats: DispatchStats | None,
) -> list[str]:
    if not answered:
        return []
    with database.session_scope() as session:
        outcomes = record_all(
            session,
            [Try(a.job, a.answer, a.started_at, a.duration_ms, a.attempt_id) for a in answered],
            config=config,
        )
    if stats is not None:
        for a, outcome in zip(answered, outcomes, strict=True):
            stats.count(outcome, len(a.job.user_ids))
    return outcomes


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
        .where(
            DeliveryBatch.state.in_([BatchState.RETRYING, BatchState.QUEUED]),
            DeliveryBatch.next_attempt_at <= now,
        )
        .limit(1)
    )
    due_rows = session.scalar(
        select(Delivery.id)
        .where(PENDING_SQL, Delivery.batch_id.is_(None), Delivery.next_attempt_at <= now)
        .limit(1)
    )
    return int(due_batches is not None) + int(due_rows is not None)

"""Claiming due work: locked rows become batches, each with its retry key, before any send.

Due pending rows are locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's ``BEGIN
IMMEDIATE`` makes the claim single-writer), checked against the guardrails once more, and grouped
by content into batches: a multicast of up to 500 friends, or a push for one. Each batch's UUID
is its ``X-Line-Retry-Key``, committed with the claim. A batch waiting for a retry is claimed
whole and resent unchanged, so a key never covers two different requests.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session, undefer

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, ChannelMode, ChannelStatus
from idlink.models import Friend
from messaging.outbox import replies
from messaging.outbox.audience_claims import Members, recheck, resolve
from messaging.outbox.batch_jobs import BatchJob, Claimed, jobs_of
from messaging.outbox.batch_rows import NewBatch, insert_claimed
from messaging.outbox.claim_checks import Due, apply_guardrails
from messaging.outbox.contents import payloads_of
from messaging.outbox.limiter import LINE_RATE_LIMITS
from messaging.outbox.models import (
    BatchState,
    Delivery,
    DeliveryBatch,
    DeliveryState,
    Endpoint,
    ReplyToken,
)
from messaging.outbox.sql import any_of, any_text_of, int_array, is_postgres, text_array

log = logging.getLogger(__name__)

MULTICAST_MAX = 500
PENDING_SQL = text("deliveries.state = 'pending'")


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """How the dispatcher works; the defaults follow LINE's documented limits."""

    api_url: str
    claim_size: int = 2000
    # Batches already formed (retries, audience sends) taken per claim: 8 of up to 500 friends.
    batches_per_claim: int = 32
    lease_seconds: float = 30.0
    max_attempts: int = 10
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 300.0
    request_timeout_seconds: float = 10.0
    threads: int = 4
    max_run_seconds: float = 60.0
    # Answer a single friend with their reply token (free) while it is this young; 0: never.
    reply_token_seconds: float = 0.0
    rates: Mapping[str, float] = field(default_factory=lambda: dict(LINE_RATE_LIMITS))


def claim(
    database: Database, *, config: DispatchConfig, now: datetime | None = None
) -> list[BatchJob]:
    """Claim due work in one transaction: batches (retries, audience sends) and deliveries.

    Both kinds in every claim: a draining million-friend audience send (2,000 multicasts, ten
    seconds at LINE's limit) must not hold back a personalised push planned meanwhile. Pushes
    and multicasts have separate limits, so neither waits for the other's slots.
    """
    now = now or utcnow()
    with database.session_scope() as session:
        batches, members = _claim_batches(session, config, now)
        batches += _claim_new(session, config, now)
        return jobs_of(session, batches, members)


def _lease(config: DispatchConfig, now: datetime) -> datetime:
    return now + timedelta(seconds=config.lease_seconds)


def renew(
    database: Database,
    jobs: Sequence[BatchJob],
    *,
    config: DispatchConfig,
    now: datetime | None = None,
) -> list[BatchJob]:
    """Extend the lease of claimed batches not sent yet; return those this worker still holds.

    A claim of personalised pushes can take longer to send than its lease: LINE answers in tens
    of milliseconds, and a thousand pushes one after another take a minute. Without renewal the
    sweeper would hand the rest to another worker and both would send them (LINE answering the
    second 409, but at the cost of a request each). A batch already taken over is dropped here.
    """
    if not jobs:
        return []
    now = now or utcnow()
    with database.session_scope() as session:
        kept = set(
            session.execute(
                update(DeliveryBatch)
                .where(
                    any_text_of(session, DeliveryBatch.id, [job.batch_id for job in jobs]),
                    DeliveryBatch.state == BatchState.SENDING,
                )
                .values(lease_until=_lease(config, now), updated_at=now)
                .returning(DeliveryBatch.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    if len(kept) < len(jobs):
        log.warning(
            "%d claimed batches were taken over after their lease ran out; "
            "left to the worker that took them",
            len(jobs) - len(kept),
        )
    return [job for job in jobs if job.batch_id in kept]


def _claim_batches(
    session: Session, config: DispatchConfig, now: datetime
) -> tuple[list[Claimed], dict[str, Members]]:
    """Batches due for a try: retries, resent unchanged with their own key, and queued audience
    batches, whose recipients are checked once more before their first try."""
    batches = list(
        session.scalars(
            select(DeliveryBatch)
            .join(Channel, Channel.id == DeliveryBatch.channel_id)
            .where(
                DeliveryBatch.state.in_([BatchState.RETRYING, BatchState.QUEUED]),
                DeliveryBatch.next_attempt_at <= now,
                Channel.status == ChannelStatus.ACTIVE,
                Channel.mode == ChannelMode.ACTIVE,
            )
            .order_by(DeliveryBatch.next_attempt_at)
            .limit(config.batches_per_claim)
            .options(undefer(DeliveryBatch.user_ids))
            .with_for_update(skip_locked=True, of=DeliveryBatch)
        )
    )
    members = resolve(session, [b for b in batches if b.audience_send_id is not None])
    first_tries = [b for b in batches if b.state == BatchState.QUEUED]
    if first_tries:
        held_back = {b.id for b in first_tries}
        held_back -= {b.id for b in recheck(session, first_tries, members, now=now)}
        batches = [b for b in batches if b.id not in held_back]
    for batch in batches:
        batch.state, batch.lease_until, batch.updated_at = (
            BatchState.SENDING,
            _lease(config, now),
            now,
        )
    retried = [b.id for b in batches if b.audience_send_id is None]
    if retried:
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_(retried))
            .where(Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SENDING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return [Claimed.of(b) for b in batches], members


def _claim_new(session: Session, config: DispatchConfig, now: datetime) -> list[Claimed]:
    """Lock the next due deliveries, in due order, through the partial index of pending rows.

    The lock query touches ``deliveries`` alone (no join, no sort): it reads the first rows of
    the index and stops. What the guardrails need about the friends is read afterwards.
    """
    # A paused channel (token refused) or one LINE put in standby sends nothing: its rows wait.
    paused = select(Channel.id).where(
        or_(Channel.status != ChannelStatus.ACTIVE, Channel.mode != ChannelMode.ACTIVE)
    )
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
            PENDING_SQL,
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
    rows = [Due(*row, friend_status=statuses.get(row.friend_id, "")) for row in locked]
    sendable = apply_guardrails(session, rows, now)
    return _form_batches(session, sendable, config, now)


def _form_batches(
    session: Session, rows: list[Due], config: DispatchConfig, now: datetime
) -> list[Claimed]:
    """Group by (channel, content) into requests of at most 500 distinct friends."""
    groups: dict[tuple[int, str], list[tuple[list[Due], set[int]]]] = defaultdict(list)
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
    tokens = _reply_tokens(session, groups, config, now)
    batches: list[Claimed] = []
    members_of: list[list[int]] = []
    for (channel_id, digest), members_list in groups.items():
        for members, _ in members_list:
            # A token is used once: a friend's second message due now goes as a push.
            token = tokens.pop(members[0].friend_id, None) if len(members) == 1 else None
            if token is not None and token.channel_id == channel_id:
                token.used_at = now
                endpoint, reply_token = Endpoint.REPLY, token.token
            else:
                endpoint = Endpoint.MULTICAST if len(members) > 1 else Endpoint.PUSH
                reply_token = None
            batches.append(
                Claimed(
                    id=str(uuid.uuid4()),
                    channel_id=channel_id,
                    endpoint=endpoint,
                    content_hash=digest,
                    attempts=0,
                    audience_send_id=None,
                    reply_token=reply_token,
                )
            )
            members_of.append([m.id for m in members])
    if not batches:
        return []
    insert_claimed(
        session,
        [
            NewBatch(b.id, b.channel_id, b.endpoint, b.content_hash, len(ids), b.reply_token)
            for b, ids in zip(batches, members_of, strict=True)
        ],
        lease_until=_lease(config, now),
        now=now,
    )
    _assign(
        session, [(i, b.id) for b, ids in zip(batches, members_of, strict=True) for i in ids], now
    )
    return batches


def _reply_tokens(
    session: Session,
    groups: dict[tuple[int, str], list[tuple[list[Due], set[int]]]],
    config: DispatchConfig,
    now: datetime,
) -> dict[int, ReplyToken]:
    """Fresh reply tokens of the friends about to get a push; at most one per friend is used.

    Replies carry no custom aggregation unit, so content counted under one keeps to pushes.
    """
    if config.reply_token_seconds <= 0:
        return {}
    singles = [
        (members[0].friend_id, digest)
        for (_channel, digest), batches in groups.items()
        for members, _ in batches
        if len(members) == 1
    ]
    if not singles:
        return {}
    contents = payloads_of(session, {digest for _friend, digest in singles})
    friends = {friend for friend, digest in singles if contents[digest][1] is None}
    lifetime = timedelta(seconds=config.reply_token_seconds)
    return replies.fresh_tokens(session, friend_ids=friends, now=now, lifetime=lifetime)


def _assign(session: Session, pairs: list[tuple[int, str]], now: datetime) -> None:
    """Mark claimed deliveries ``sending`` in their batch: one statement on PostgreSQL."""
    if is_postgres(session):
        session.execute(
            _ASSIGN,
            {
                "ids": int_array(d for d, _ in pairs),
                "batches": text_array(b for _, b in pairs),
                "now": now,
            },
        )
        return
    session.execute(
        update(Delivery),
        [
            {"id": d, "batch_id": b, "state": DeliveryState.SENDING, "updated_at": now}
            for d, b in pairs
        ],
    )


_ASSIGN = text(
    """
    UPDATE deliveries AS d SET state = 'sending', batch_id = v.batch_id, updated_at = :now
    FROM unnest(CAST(:ids AS bigint[]), CAST(:batches AS text[])) AS v(id, batch_id)
    WHERE d.id = v.id
    """
)

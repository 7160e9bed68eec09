"""Freezing an audience: the segment resolved, the guardrails applied, batches of 500 written.

On PostgreSQL it is one statement run inside the server: the audience is classified (blocked,
opted out, over a frequency cap), the rest numbered in friend-id order and aggregated into
``delivery_batches`` rows whose ``friend_ids`` arrays are built by the server, and what was
left out is counted by reason. No friend id travels to Python and back. On SQLite (the embedded
runtime) the same happens in Python.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    FromClause,
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
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging.outbox import consent, guardrails
from messaging.outbox.models import (
    BatchState,
    Consent,
    Delivery,
    DeliveryBatch,
    DeliveryState,
    Endpoint,
)
from messaging.outbox.sql import is_postgres

MULTICAST_MAX = 500
FREEZE_WORK_MEM = "128MB"


@dataclass(frozen=True, slots=True)
class Freeze:
    """What one audience send freezes its batches with."""

    send_id: int
    channel: Channel
    content_hash: str
    next_attempt_at: datetime
    policy: guardrails.Policy
    now: datetime
    # The send's source: its purpose decides whose withdrawn consent leaves them out.
    source: str
    # Only the friends with ``after < id <= through`` (a part of a send frozen in parts).
    after: int = 0
    through: int | None = None

    def in_part(self, ids: Any = Friend.id) -> list[Any]:
        """The conditions on friend ids (``Friend.id`` unless told) that keep this part's."""
        conditions = [ids > self.after]
        if self.through is not None:
            conditions.append(ids <= self.through)
        return conditions

    def part_of(self, audience: Select[Any]) -> Select[Any]:
        """``audience`` cut to this part, on its own column: the database reads only the
        part's range of the segment, not the whole segment for every part."""
        if self.after == 0 and self.through is None:
            return audience
        ids = audience.subquery("whole_audience").c[0]
        return select(ids).where(*self.in_part(ids))


def _freeze_in_server(
    session: Session, freeze: Freeze, audience: Select[Any]
) -> tuple[int, int, Counter[str]]:
    """One statement: classify the audience, insert the batches, count who was left out."""
    # A million-friend audience is hashed and sorted: in memory, not in temporary files.
    # SET LOCAL ends with the caller's transaction.
    session.execute(text(f"SET LOCAL work_mem = '{FREEZE_WORK_MEM}'"))
    recent = _recent_sends(freeze) if freeze.policy.capped else None
    reason = case(*_reason_whens(freeze, recent), else_=null())
    source: FromClause = Friend.__table__
    if recent is not None:
        source = source.outerjoin(recent, recent.c.friend_id == Friend.id)
    classified = (
        select(
            Friend.id.label("friend_id"),
            Friend.line_user_id.label("user_id"),
            reason.label("reason"),
        )
        .select_from(source)
        .where(
            Friend.channel_id == freeze.channel.id,
            Friend.id.in_(freeze.part_of(audience)),
            *freeze.in_part(),
        )
        .cte("classified")
    )
    # The audience in friend-id order as one array, cut into slices of 500: one sort, and each
    # slice is a copy of contiguous elements (no per-friend grouping). Their user ids likewise.
    in_order = classified.c.friend_id
    members = (
        select(
            cast(
                func.array_agg(aggregate_order_by(classified.c.friend_id, in_order)),
                ARRAY(BigInteger),
            ).label("ids"),
            cast(
                func.array_agg(aggregate_order_by(classified.c.user_id, in_order)),
                ARRAY(String),
            ).label("user_ids"),
        )
        .where(classified.c.reason.is_(None))
        .cte("members")
    )
    chunk = (
        func.generate_series(0, func.cardinality(members.c.ids) - 1, MULTICAST_MAX)
        .table_valued("n")
        .render_derived("chunk")
    )
    first = chunk.c.n + 1
    slices = (
        select(
            members.c.ids[first : first + MULTICAST_MAX - 1].label("friend_ids"),
            members.c.user_ids[first : first + MULTICAST_MAX - 1].label("user_ids"),
        )
        .select_from(members.join(chunk, true()))
        .subquery("slices")
    )
    size = func.cardinality(slices.c.friend_ids)
    batch_rows = select(
        cast(func.gen_random_uuid(), String),
        literal(freeze.channel.id),
        case((size > 1, Endpoint.MULTICAST.value), else_=Endpoint.PUSH.value),
        literal(freeze.content_hash),
        size,
        literal(BatchState.QUEUED.value),
        literal(0),
        literal(freeze.next_attempt_at, DeliveryBatch.next_attempt_at.type),
        literal(freeze.send_id),
        slices.c.friend_ids,
        slices.c.user_ids,
        literal(freeze.now, DeliveryBatch.created_at.type),
        literal(freeze.now, DeliveryBatch.updated_at.type),
    )
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
        "user_ids",
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


def _recent_sends(freeze: Freeze) -> Any:
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
            # A send frozen in parts: its own batches so far hold only earlier parts' friends.
            DeliveryBatch.audience_send_id != freeze.send_id,
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


def _reason_whens(freeze: Freeze, recent: Any) -> list[tuple[Any, Any]]:
    policy = freeze.policy
    purpose = consent.purpose_of(freeze.source)
    opted_out = select(Consent.friend_id).where(Consent.opted_out.is_(True))
    withdrawn = select(Consent.friend_id).where(consent.withdrawn_column(purpose).is_(True))
    whens: list[tuple[Any, Any]] = [
        (Friend.status != FriendStatus.FOLLOWED, literal(guardrails.BLOCKED_REASON)),
        (Friend.id.in_(opted_out), literal(guardrails.OPTED_OUT_REASON)),
        (Friend.id.in_(withdrawn), literal(consent.withdrawn_reason(purpose))),
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
    session: Session, freeze: Freeze, audience: Select[Any]
) -> tuple[int, int, Counter[str]]:
    """The same freeze on SQLite (the embedded runtime), with the guardrails in Python."""
    found = session.execute(
        select(Friend.id, Friend.status, Friend.line_user_id)
        .where(
            Friend.channel_id == freeze.channel.id,
            Friend.id.in_(freeze.part_of(audience)),
            *freeze.in_part(),
        )
        .order_by(Friend.id)
    ).all()
    user_ids = {friend_id: user_id for friend_id, _, user_id in found}
    reasons = {
        friend_id: guardrails.BLOCKED_REASON
        for friend_id, status, _ in found
        if status != FriendStatus.FOLLOWED
    }
    reachable = [f for f in user_ids if f not in reasons]
    reasons.update(consent.withheld(session, reachable, source=freeze.source))
    reachable = [f for f in reachable if f not in reasons]
    reasons.update(guardrails.over_caps(session, reachable, freeze.policy, now=freeze.now))
    members = [f for f in user_ids if f not in reasons]
    rows = [
        DeliveryBatch(
            id=str(uuid.uuid4()),
            channel_id=freeze.channel.id,
            endpoint=Endpoint.MULTICAST if len(chunk) > 1 else Endpoint.PUSH,
            content_hash=freeze.content_hash,
            recipients=len(chunk),
            state=BatchState.QUEUED,
            attempts=0,
            next_attempt_at=freeze.next_attempt_at,
            audience_send_id=freeze.send_id,
            friend_ids=chunk,
            user_ids=[user_ids[f] for f in chunk],
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


def freeze_audience(
    session: Session, freeze: Freeze, audience: Select[Any]
) -> tuple[int, int, Counter[str]]:
    """Freeze ``audience``: (friends planned, batches written, friends left out by reason)."""
    if is_postgres(session):
        return _freeze_in_server(session, freeze, audience)
    return _freeze_in_process(session, freeze, audience)

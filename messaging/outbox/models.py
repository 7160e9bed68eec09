"""The delivery outbox and its guardrails: every outbound LINE message is a row first.

``Delivery`` is one message set for one friend. The dispatcher groups due deliveries into a
``DeliveryBatch`` (one HTTP request: a push, or a multicast of up to 500 friends) whose id is the
``X-Line-Retry-Key``; each HTTP try of a batch is a ``DeliveryAttempt``.

``AudienceSend`` is one identical message set for a whole audience (a segment, a campaign): no
row per friend. Its audience is frozen once into ``DeliveryBatch`` rows of up to 500 friend ids
each, which the same dispatcher claims, sends and records as it does the per-friend batches.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base

# 64-bit ids on PostgreSQL (an outbox grows by millions a campaign), rowids on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


# A batch's friend ids: a PostgreSQL array (the server builds and unnests it), JSON on SQLite.
FriendIds = JSON().with_variant(ARRAY(BigInteger()), "postgresql")
# Their LINE user ids, in the same order: frozen with them, so that a claim need not look up
# each friend again (it looks only for those who left since).
UserIds = JSON().with_variant(ARRAY(String(33)), "postgresql")


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"
    # Waiting for a person: the monthly quota would be exceeded (see ``reason``).
    HELD = "held"
    # A reply LINE may or may not have delivered: a try of it got no answer (a worker died) and
    # its token was refused once it could also have expired. Not resent, not counted as sent.
    UNCERTAIN = "uncertain"


class BatchState(enum.StrEnum):
    # An audience batch frozen but never claimed: no request has carried its key yet.
    QUEUED = "queued"
    SENDING = "sending"
    # Waiting for its next try (``next_attempt_at``), with the same retry key.
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    # LINE refused it without accepting it (monthly quota): its deliveries were released.
    ABANDONED = "abandoned"
    # An audience batch waiting for the monthly quota (never sent, or refused for the quota).
    HELD = "held"
    # An audience batch cancelled before any request carried its key.
    CANCELLED = "cancelled"
    # A reply whose delivery LINE's answers cannot tell (see ``DeliveryState.UNCERTAIN``).
    UNCERTAIN = "uncertain"


class Endpoint(enum.StrEnum):
    """The LINE API a batch is sent through; each has its own rate limit."""

    REPLY = "reply"
    PUSH = "push"
    MULTICAST = "multicast"


class AudienceState(enum.StrEnum):
    # Frozen into batches; each batch's state says how far it went.
    QUEUED = "queued"
    # Frozen in parts, up to ``frozen_through``: its first batches may leave before the rest.
    FREEZING = "freezing"
    # The monthly quota did not allow the whole audience (see ``reason``); nothing was sent.
    HELD = "held"
    CANCELLED = "cancelled"


class DeliveryContent(Base):
    """A rendered message set (1 to 5 LINE message objects), stored once per distinct content."""

    __tablename__ = "delivery_contents"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # LINE's custom aggregation unit its sends are counted under (a campaign's), if any.
    aggregation_unit: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the payload was erased or purged (privacy); a later send of the same content
    # writes it again.
    purged_at: Mapped[datetime | None]


_PENDING = text("state = 'pending'")


_HAS_BATCH = text("batch_id IS NOT NULL")


_AUDIENCE_SENT = text("audience_send_id IS NOT NULL AND state = 'sent'")


class Delivery(Base):
    """One logical send to one friend, unique by its idempotency key."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Only the friend is a foreign key: a campaign inserts a million rows, and each key costs a
    # trigger per row. Shop, channel and content are checked by ``plan``, which writes them.
    shop_id: Mapped[int]
    channel_id: Mapped[int]
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    # When the dispatcher may take it: ``due_at``, moved by quiet hours and retries.
    next_attempt_at: Mapped[datetime]
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(default=0)
    request_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
        Index(
            "ix_deliveries_batch", "batch_id", postgresql_where=_HAS_BATCH, sqlite_where=_HAS_BATCH
        ),
        Index("ix_deliveries_friend_sent", "friend_id", "sent_at"),
        Index("ix_deliveries_source_state", "source", "state"),
    )


class DeliveryBatch(Base):
    """One HTTP request to LINE; its id is the ``X-Line-Retry-Key`` of every try."""

    __tablename__ = "delivery_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    endpoint: Mapped[str] = mapped_column(String(16))
    # A reply (free) to the friend's recent event with this token, instead of a push.
    reply_token: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(ForeignKey("delivery_contents.content_hash"))
    recipients: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=BatchState.SENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    # A claim is a lease: past it, the sweeper gives the batch to another worker (same key).
    lease_until: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Set on the batches of an audience send: the friends it goes to, and why some of the frozen
    # audience were dropped just before the first try ({reason: count}).
    audience_send_id: Mapped[int | None] = mapped_column(ForeignKey("audience_sends.id"))
    # Deferred: loaded only where needed (claims resolve it in SQL on PostgreSQL).
    friend_ids: Mapped[list[int] | None] = mapped_column(FriendIds, deferred=True)
    # ``friend_ids``' LINE user ids, element for element (None: frozen before they were kept).
    user_ids: Mapped[list[str] | None] = mapped_column(UserIds, deferred=True)
    dropped: Mapped[dict[str, int] | None] = mapped_column(JSON)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_delivery_batches_state_next", "state", "next_attempt_at"),
        Index("ix_delivery_batches_audience_send", "audience_send_id", "state"),
        # Frequency caps count the recent sent audience batches; this finds them.
        Index(
            "ix_delivery_batches_audience_sent",
            "sent_at",
            postgresql_where=_AUDIENCE_SENT,
            sqlite_where=_AUDIENCE_SENT,
        ),
    )


class AudienceSend(Base):
    """One message set for a whole audience, unique by its idempotency key; no row per friend.

    ``planned`` friends were frozen into batches; ``suppressed`` counts, by reason, the audience
    left out when it was frozen (blocked, opted out, over a frequency cap).
    """

    __tablename__ = "audience_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int]
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(ForeignKey("delivery_contents.content_hash"))
    state: Mapped[str] = mapped_column(String(16), default=AudienceState.QUEUED)
    reason: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    planned: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # While ``freezing``: the friend id up to which the audience is frozen.
    frozen_through: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttempt(Base):
    """One HTTP try of a batch, with what LINE answered."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("delivery_batches.id"), index=True)
    retry_key: Mapped[str] = mapped_column(String(36))
    endpoint: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]
    started_at: Mapped[datetime]


class SendPolicy(Base):
    """Quiet hours and frequency caps of a shop; ``source_prefix`` '' is the shop's default.

    A delivery's policy merges, field by field, the policies of its source's prefixes, shortest
    first (e.g. ``reminder:`` may allow night sends and no caps while the default caps
    campaigns; ``campaign:7`` sets a weekly cap and keeps the shop's quiet hours).
    """

    __tablename__ = "send_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    source_prefix: Mapped[str] = mapped_column(String(100), default="")
    # NULL in a field: not set here, the shorter prefix's applies (guardrails.PolicyBook).
    # Quiet hours: local wall-clock times "HH:MM" in the channel's timezone, or "off" in both.
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    # Messages per friend per rolling day and week; 0: no cap.
    per_day: Mapped[int | None]
    per_week: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "source_prefix"),)


class Consent(Base):
    """A friend's messaging consent now; an opted-out friend is sent nothing, and one who
    withdrew a purpose is sent nothing of that purpose (``messaging.outbox.consent``)."""

    __tablename__ = "consents"

    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    marketing_withdrawn: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    service_withdrawn: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    source: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(Base):
    """One consent given or withdrawn by a friend, for one purpose: the ledger, never changed."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    # Where it was given: liff, form, keyword, staff, import, api.
    source: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_consent_records_friend", "friend_id", "purpose", "id"),)


class ReplyToken(Base):
    """A reply token from a friend's webhook event: free to send with, once, while fresh.

    The dispatcher answers a single friend with it instead of a push when it is younger than
    ``TSUNAGU_REPLY_TOKEN_SECONDS`` and unused; ``used_at`` is set in the claim that takes it.
    """

    __tablename__ = "reply_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    # When LINE made the event (its ``timestamp``), which is what the token's life counts from.
    issued_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_reply_tokens_friend_issued", "friend_id", "issued_at"),)


class RateSlot(Base):
    """The next free slot of a rate-limit key (channel and endpoint), on PostgreSQL's clock.

    The shared limiter of hubs without Redis: every worker reserves its blocks of slots here
    (``messaging/limiter.py``), so together they keep within LINE's per-channel limits.
    """

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The theoretical arrival time of the key's next request, in µs since the epoch.
    next_slot_us: Mapped[int] = mapped_column(BigInteger)

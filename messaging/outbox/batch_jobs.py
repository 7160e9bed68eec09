"""A claimed batch as the plain data a sender needs: recipients, credentials and messages,
loaded once at the claim so that sending needs no database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import Friend
from messaging.outbox.audience_claims import Members
from messaging.outbox.contents import payloads_of
from messaging.outbox.models import Delivery, DeliveryBatch
from messaging.outbox.sql import any_text_of


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
    aggregation_unit: str | None = None
    reply_token: str | None = None
    # Names the messages and aggregation unit: the sender checks each content once.
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """What sending needs of a claimed batch (new ones are inserted without ORM objects)."""

    id: str
    channel_id: int
    endpoint: str
    content_hash: str
    attempts: int
    audience_send_id: int | None
    reply_token: str | None = None

    @classmethod
    def of(cls, batch: DeliveryBatch) -> Claimed:
        return cls(
            id=batch.id,
            channel_id=batch.channel_id,
            endpoint=batch.endpoint,
            content_hash=batch.content_hash,
            attempts=batch.attempts,
            audience_send_id=batch.audience_send_id,
            reply_token=batch.reply_token,
        )


def jobs_of(
    session: Session, batches: Iterable[Claimed], members: dict[str, Members]
) -> list[BatchJob]:
    """The claimed batches as jobs: recipients, channel credentials and messages loaded."""
    batches = list(batches)
    if not batches:
        return []
    recipients: dict[str | None, list[str]] = defaultdict(list)
    per_friend = [b.id for b in batches if b.audience_send_id is None]
    if per_friend:
        for batch_id, user_id in session.execute(
            select(Delivery.batch_id, Friend.line_user_id)
            .join(Friend, Friend.id == Delivery.friend_id)
            .where(any_text_of(session, Delivery.batch_id, per_friend))
            .order_by(Delivery.id)
        ):
            recipients[batch_id].append(user_id)
    for batch in batches:
        if batch.audience_send_id is not None:
            recipients[batch.id] = members[batch.id].user_ids
    channels = {
        c.id: c
        for c in session.scalars(
            select(Channel).where(Channel.id.in_({b.channel_id for b in batches}))
        )
    }
    payloads = payloads_of(session, {b.content_hash for b in batches})
    return [
        BatchJob(
            batch_id=b.id,
            channel_id=b.channel_id,
            line_channel_id=channels[b.channel_id].line_channel_id,
            access_token=channels[b.channel_id].access_token,
            endpoint=b.endpoint,
            user_ids=tuple(recipients[b.id]),
            messages=payloads[b.content_hash][0],
            attempts=b.attempts,
            aggregation_unit=payloads[b.content_hash][1],
            reply_token=b.reply_token,
            content_hash=b.content_hash,
        )
        for b in batches
    ]

"""The monthly message quota, a guardrail of its own: a send that would exceed what LINE
still allows this month is held whole with the reason, never half-sent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from messaging.outbox.models import BatchState, Delivery, DeliveryBatch, DeliveryState


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """Whether ``needed`` more messages fit this month, and why not."""

    needed: int
    remaining: int | None

    @property
    def fits(self) -> bool:
        return self.remaining is None or self.needed <= self.remaining

    @property
    def reason(self) -> str:
        return (
            f"monthly quota: this send needs {self.needed} messages, "
            f"{self.remaining} remain this month"
        )


def check_quota(
    session: Session,
    *,
    sender: LineSender,
    channel_id: int,
    needed: int,
    excluding_audience_send: int | None = None,
) -> QuotaCheck:
    """Compare ``needed`` with LINE's quota minus consumption and what is queued.

    Queued are pending per-friend deliveries and the recipients of audience batches not sent
    yet (but those of ``excluding_audience_send``, the send being checked).
    """
    quota = sender.quota()
    if quota.remaining is None:
        return QuotaCheck(needed=needed, remaining=None)
    queued = session.scalar(
        select(func.count()).where(
            Delivery.channel_id == channel_id,
            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
        )
    )
    queued_audience = session.scalar(
        select(func.coalesce(func.sum(DeliveryBatch.recipients), 0)).where(
            DeliveryBatch.channel_id == channel_id,
            DeliveryBatch.audience_send_id.is_not(None),
            DeliveryBatch.audience_send_id.is_distinct_from(excluding_audience_send),
            DeliveryBatch.state.in_(QUEUED_BATCH_STATES),
        )
    )
    in_line = (queued or 0) + (queued_audience or 0)
    return QuotaCheck(needed=needed, remaining=max(0, quota.remaining - in_line))


# Audience batches whose recipients LINE has not (knowingly) accepted yet.
QUEUED_BATCH_STATES = (BatchState.QUEUED, BatchState.SENDING, BatchState.RETRYING)

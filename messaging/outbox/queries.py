"""Reads of the outbox for the admin API."""

from __future__ import annotations

from sqlalchemy import Select, select

from messaging.outbox.models import Delivery, DeliveryState


def deliveries(
    *, shop_id: int, source: str | None, state: DeliveryState | None, friend_id: int | None
) -> Select[Delivery]:
    """A shop's deliveries, by source, state and friend when given (the caller pages it)."""
    query = select(Delivery).where(Delivery.shop_id == shop_id)
    if source is not None:
        query = query.where(Delivery.source == source)
    if state is not None:
        query = query.where(Delivery.state == state)
    if friend_id is not None:
        query = query.where(Delivery.friend_id == friend_id)
    return query

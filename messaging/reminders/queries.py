"""Reads of visit reminder rules for the admin API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.reminders.models import ReminderRule


def rules(session: Session, *, shop_id: int) -> Sequence[ReminderRule]:
    """A shop's reminder rules by name."""
    return session.scalars(
        select(ReminderRule).where(ReminderRule.shop_id == shop_id).order_by(ReminderRule.name)
    ).all()

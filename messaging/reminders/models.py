"""Visit reminder rules: a message a set time before each booking starts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class InsideWindow(enum.StrEnum):
    # A booking made (or moved) closer to its start than the rule's offset.
    SEND_NOW = "send_now"
    SKIP = "skip"


class ReminderRule(Base):
    """A visit reminder: ``offset_minutes`` before every booking of a linked friend.

    Its deliveries carry the source ``reminder:{rule}:{booking}`` and the key
    ``reminder:{booking}:{rule}:{start}:r{revision}``; changing the offset or the template
    raises ``revision``, so future bookings are planned again with the new rule.
    """

    __tablename__ = "reminder_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    name: Mapped[str] = mapped_column(String(100))
    offset_minutes: Mapped[int]
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    inside_window: Mapped[str] = mapped_column(String(16), default=InsideWindow.SEND_NOW)
    # A reminder for a 09:00 visit is worth sending at 07:00; the shop may still opt in.
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)

"""Campaigns: what a shop sends on a trigger or to a segment, with its rules and status."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.coupons.models import CouponPool
from core.clock import utcnow
from core.db import Base


class CampaignKind(enum.StrEnum):
    # Triggered per purchase (first, n-th, product, total …), with a delay and a send-at time.
    PURCHASE = "purchase"
    # Scheduled scans: customers with no purchase for N days (once per lapse), birthdays.
    LAPSED = "lapsed"
    BIRTHDAY = "birthday"
    # One delivery to a segment, frozen when it starts.
    SEGMENT = "segment"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    # Trigger campaigns listen; a segment campaign waits for its time.
    ACTIVE = "active"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Campaign(Base):
    """What to send, to whom and when: a trigger or a segment, a template, guardrail overrides.

    Its deliveries carry the source ``campaign:{id}``; caps overridden here are the send policy
    of that source prefix, so the planner and the dispatcher apply them like any other.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Kind-specific rules, validated by ``messaging.campaigns.schemas`` when saved.
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The message template: 1 to 5 LINE message objects with ``{{variables}}``.
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # When to send after the trigger: {"days": 3, "at": "10:00"}; {} sends at once.
    delay: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scheduled_at: Mapped[datetime | None]
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    per_day: Mapped[int | None]
    per_week: Mapped[int | None]
    coupon_code: Mapped[str | None] = mapped_column(String(100))
    # Each friend gets their own code of this pool as ``{{ coupon }}``.
    coupon_pool_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_pools.id"))
    coupon_pool: Mapped[CouponPool | None] = relationship()
    click_tag: Mapped[str | None] = mapped_column(String(100))
    aggregation_unit: Mapped[str | None] = mapped_column(String(30))
    attribution_days: Mapped[int] = mapped_column(default=7)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    @property
    def source(self) -> str:
        """The ``source`` of this campaign's deliveries (and its send-policy prefix)."""
        return f"campaign:{self.id}"

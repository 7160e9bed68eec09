"""Auto-reply rules, FAQ entries, and the hits that record each answer given (one per event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class AutoReplyRule(Base):
    """A keyword rule of one channel; ``spec`` holds its whole declaration (schedule,
    conditions, actions) as the admin API and the ``tsunagu apply`` file write it."""

    __tablename__ = "auto_reply_rules"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(default=100)
    match: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaqEntry(Base):
    """A question with its variants and the answer; matched by similarity over a threshold."""

    __tablename__ = "faq_entries"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    questions: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    threshold: Mapped[float] = mapped_column(Float, default=0.3)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoReplyHit(Base):
    """One answer given: which rule or FAQ entry answered which friend's event, and its score.

    Unique per event: processing the same stored event again answers nothing twice.
    """

    __tablename__ = "auto_reply_hits"
    __table_args__ = (
        Index("ix_auto_reply_hits_rule_friend", "rule_id", "friend_id", "at"),
        Index("ix_auto_reply_hits_faq_id", "faq_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("inbound_events.id"), unique=True)
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), index=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("auto_reply_rules.id", ondelete="CASCADE")
    )
    faq_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"))
    score: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)

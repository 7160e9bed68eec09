"""Tag rules and their hits: one row per event a rule acted on, so an event read twice acts
once, and the rule's list shows how often it fired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from messaging.outbox.models import BigId


class TagRule(Base):
    """When ``trigger`` happens to a friend, add ``add_tags`` and remove ``remove_tags``."""

    __tablename__ = "tag_rules"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # {"event": "purchase", "purchase_number": 1, ...} (growth.tagrules.schemas.Trigger)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    add_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    remove_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # Events before this moment are not the rule's business (set on creation and activation).
    active_since: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagRuleHit(Base):
    """The rule acted on one event of one friend (``purchase:12``, ``click:…``, ``lapsed:…``)."""

    __tablename__ = "tag_rule_hits"
    __table_args__ = (
        UniqueConstraint("rule_id", "friend_id", "event_key"),
        Index("ix_tag_rule_hits_rule_at", "rule_id", "at"),
        Index("ix_tag_rule_hits_friend", "friend_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("tag_rules.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    event_key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)

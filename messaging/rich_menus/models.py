"""Rich menus by segment: a channel's rules, and the menu each friend was last given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class RichMenuRule(Base):
    """Friends of a channel in ``segment`` see ``rich_menu_id``; the lowest priority wins."""

    __tablename__ = "rich_menu_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    priority: Mapped[int]
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    rich_menu_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("channel_id", "priority"),)


class FriendRichMenu(Base):
    """The rich menu last applied to a friend by the segment sync (None: the default menu)."""

    __tablename__ = "friend_rich_menus"

    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), primary_key=True)
    rich_menu_id: Mapped[str | None] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)

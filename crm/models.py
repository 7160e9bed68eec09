"""What staff add to a friend: notes and the owner (担当者); custom fields to come."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class Note(Base):
    """A staff member's note on a friend; edits keep the earlier text in the audit log."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_notes_friend", "friend_id", "pinned", "created_at"),)


class FriendOwner(Base):
    """The staff member in charge of a friend (担当者): one per friend."""

    __tablename__ = "friend_owners"

    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    assigned_by: Mapped[str] = mapped_column(String(200))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

"""What staff add to a friend: notes, the owner (担当者) and custom fields (友だち情報欄)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
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


class FieldDefinition(Base):
    """A custom field of a shop's friends: its key, label, type, choices and place on the chart."""

    __tablename__ = "field_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "key"),)


class FriendFieldValue(Base):
    """A friend's value of one field; a multiple-choice field has one row per chosen choice.

    The value sits in the column of its type, so segments compare numbers and dates in SQL.
    """

    __tablename__ = "friend_field_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id", ondelete="CASCADE"))
    field_id: Mapped[int] = mapped_column(ForeignKey("field_definitions.id", ondelete="CASCADE"))
    text: Mapped[str | None] = mapped_column(String(500))
    number: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    day: Mapped[date | None]
    flag: Mapped[bool | None] = mapped_column(Boolean)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_friend_field_values_friend", "friend_id", "field_id"),
        Index("ix_friend_field_values_text", "field_id", "text"),
        Index("ix_friend_field_values_number", "field_id", "number"),
        Index("ix_friend_field_values_day", "field_id", "day"),
    )

"""A bulk action over a filtered friends list, and how far it got."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class BulkAction(enum.StrEnum):
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    SET_OWNER = "set_owner"
    SET_FIELD = "set_field"


class BulkState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class FriendBulkJob(Base):
    """One staff action over every friend a filter matched: run in batches of friends in id
    order (``last_friend_id`` is how far it got), audited once when asked for."""

    __tablename__ = "friend_bulk_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    field_id: Mapped[int | None] = mapped_column(
        ForeignKey("field_definitions.id", ondelete="CASCADE")
    )
    # The value as given (a form's text, JSON), checked when asked for; each batch parses it.
    field_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    # The list's filters (``FriendFilters`` as JSON), the staff's channel scope, and the time
    # "within N days" is counted from: every batch selects with the same ones.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    channel_scope: Mapped[list[str] | None] = mapped_column(JSON)
    as_of: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=BulkState.RUNNING)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    last_friend_id: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a batch last committed: a running job untouched for a while is taken up again.
    touched_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_friend_bulk_jobs_state", "state", "id"),)

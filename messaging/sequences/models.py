"""Step sequences: their steps, and the friends enrolled in them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from messaging.outbox.models import BigId


class Reentry(enum.StrEnum):
    NEVER = "never"
    # Again on a new event once the previous enrolment completed or exited.
    AFTER_EXIT = "after_exit"
    # A new event restarts the sequence, ending an active enrolment.
    ALWAYS = "always"


class Sequence(Base):
    """Steps sent to each enrolled friend at offsets from their enrolment, until an exit."""

    __tablename__ = "sequences"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    name: Mapped[str] = mapped_column(String(100))
    # {"event": "follow" | "link" | "tag" | "purchase", "tag": …}
    enroll_on: Mapped[dict[str, Any]] = mapped_column(JSON)
    # ["purchased", "unlinked", "blocked", {"tag_added": "…"}]
    exit_on: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reentry: Mapped[str] = mapped_column(String(16), default=Reentry.NEVER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Events from here on enrol (friends who followed before the sequence existed do not).
    active_since: Mapped[datetime]
    # Events up to here were discovered; the next scan starts a little before (late events).
    cursor_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    @property
    def source(self) -> str:
        """The ``source`` of this sequence's deliveries (and its send-policy prefix)."""
        return f"sequence:{self.id}"


class SequenceStep(Base):
    __tablename__ = "sequence_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Counted from the enrolment, as ``schemas.Delay``: {"days": 1, "at": "10:00"}, {"hours": 2}.
    delay: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("sequence_id", "position"),)


class EnrollmentState(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


_ACTIVE_ENROLLMENT = text("state = 'active'")


class Enrollment(Base):
    """One friend's pass through a sequence; ``generation`` counts their re-entries."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    generation: Mapped[int] = mapped_column(default=1)
    state: Mapped[str] = mapped_column(String(16), default=EnrollmentState.ACTIVE)
    reason: Mapped[str] = mapped_column(String(100))
    # When the enrolling event happened: step delays count from here.
    enrolled_at: Mapped[datetime]
    next_position: Mapped[int | None]
    next_due_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("sequence_id", "friend_id", "generation"),
        Index(
            "ix_enrollments_due",
            "sequence_id",
            "next_due_at",
            postgresql_where=_ACTIVE_ENROLLMENT,
            sqlite_where=_ACTIVE_ENROLLMENT,
        ),
        Index("ix_enrollments_friend", "friend_id"),
    )

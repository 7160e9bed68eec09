"""A medium a friend sent, and its bytes when kept in the database."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class MediaState(enum.StrEnum):
    # Waiting for its (next) fetch; LINE may still be preparing a video or audio.
    PENDING = "pending"
    STORED = "stored"
    # Hosted outside LINE (``contentProvider.type: external``): the URL is kept, nothing fetched.
    EXTERNAL = "external"
    TOO_LARGE = "too_large"
    # LINE answered with a type that does not fit the message (an "image" that is no image).
    REFUSED = "refused"
    # LINE no longer has it (404), or gave up preparing it, or every fetch run failed.
    FAILED = "failed"
    # Deleted after its retention period, or with the friend's erasure.
    PURGED = "purged"


MEDIA_KINDS = ("image", "video", "audio", "file")


class Media(Base):
    """One image, video, audio or file message's content: where it is and what became of it.

    A medium staff sent (an image reply) has no friend's message: it has a ``public_token``
    instead, the unguessable name LINE fetches it by."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE"), unique=True
    )
    line_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=MediaState.PENDING)
    content_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None]
    file_name: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage: Mapped[str | None] = mapped_column(String(16))
    # The file of the ``filesystem`` storage (the database storage keeps a ``MediaBlob``).
    location: Mapped[str | None] = mapped_column(Text)
    external_url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    fetched_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # The sweeper's due fetches, and the retention purge's oldest kept media.
        Index("ix_media_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_media_occurred_at", "occurred_at"),
    )


class MediaBlob(Base):
    """The bytes of a medium kept by the ``database`` storage (apart, so listings stay light)."""

    __tablename__ = "media_blobs"

    media_id: Mapped[int] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)

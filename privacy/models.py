"""What erasure leaves to do outside the hub: the LINE users still to be returned to their
channel's default rich menu."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base


class RichMenuUnlink(Base):
    """An erased friend's LINE user whose per-user rich menu LINE must still drop.

    The only place the erased user id stays (encrypted), and only until LINE accepts the
    unlink: the row is then deleted. Retried with backoff while LINE fails."""

    __tablename__ = "privacy_rich_menu_unlinks"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    line_user_id: Mapped[str] = mapped_column(EncryptedText)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_privacy_rich_menu_unlinks_due", "next_attempt_at"),)

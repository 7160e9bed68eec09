"""What the features share: tracked links and their clicks, the cursors of their scans, and the
shop's saved message templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from messaging.outbox.models import BigId


class StandaloneLink(Base):
    """A tracked link staff name and place anywhere (a Flex button, a reminder, a sequence):
    each friend it is sent to gets their own ``TrackedLink`` code, so clicks count per friend."""

    __tablename__ = "standalone_links"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    # Given to the friend on their first click of the link.
    tag: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackedLink(Base):
    """One link of one delivery, or one friend's code of a standalone link: ``GET /r/{code}``
    records the click and redirects to ``url`` (a standalone link's current address)."""

    __tablename__ = "tracked_links"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    source: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    # A tag given to the friend on their first click (e.g. "clicked-winter-sale").
    tag: Mapped[str | None] = mapped_column(String(100))
    first_clicked_at: Mapped[datetime | None]
    clicks: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on a friend's code of a standalone link.
    link_id: Mapped[int | None] = mapped_column(ForeignKey("standalone_links.id"))

    __table_args__ = (
        Index("ix_tracked_links_source", "source", "first_clicked_at"),
        Index("ix_tracked_links_link_friend", "link_id", "friend_id"),
    )


class LinkClick(Base):
    """One click on a tracked link (the link keeps the first-click time for reports)."""

    __tablename__ = "link_clicks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(ForeignKey("tracked_links.code"), index=True)
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class TriggerCursor(Base):
    """How far one trigger has read a change feed (purchases or bookings by ``updated_at``), or
    when a scan last ran; shared by every worker, so a restart resumes where it stopped."""

    __tablename__ = "trigger_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageTemplate(Base):
    """1 to 5 LINE messages saved under a name, ``{{ variables }}`` filled per friend when sent
    (from the inbox's composer)."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    name: Mapped[str] = mapped_column(String(100))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)

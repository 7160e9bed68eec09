"""Conversations and what staff keep about them: status, marks, assignment, replies, notes.

A ``Conversation`` is one per friend (a friend belongs to one channel). Its ``version`` counts
the replies sent in it: a reply written at an older version than the conversation's means
someone answered meanwhile, and is sent only once its author confirms.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from idlink.models import LAST_MESSAGE_NEVER

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ConversationStatus(enum.StrEnum):
    NEW = "new"  # 未対応
    OPEN = "open"  # 対応中
    RESOLVED = "resolved"  # 対応済み
    SNOOZED = "snoozed"  # 保留


class Conversation(Base):
    """One friend's chat with the shop, as staff handle it."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.NEW)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    mark_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_marks.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # Replies sent so far: what a composer saw, to tell whether someone answered meanwhile.
    version: Mapped[int] = mapped_column(default=0)
    # The friend's oldest message not answered yet (None: nobody waits).
    waiting_since: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    last_read_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    # When this round began (the first message, or the one that reopened it): what time to
    # first reply and time to resolve count from.
    cycle_started_at: Mapped[datetime | None]
    first_replied_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # The newest markAsReadToken LINE gave, kept until staff open the conversation.
    read_token: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_conversations_shop_status_last", "shop_id", "status", "last_message_at"),
        Index("ix_conversations_shop_assignee", "shop_id", "assignee_id"),
        # The list's order (newest activity first, never-written last), walked a page at a
        # time; the same expression as the query's (inbox.queries), on SQLite as well.
        Index(
            "ix_conversations_shop_last_activity",
            "shop_id",
            text(f"coalesce(last_message_at, '{LAST_MESSAGE_NEVER}') DESC"),
            text("id DESC"),
        ),
    )


class InboxCount(Base):
    """How many of a channel's conversations are in one (status, mark, assignee) group: what the
    inbox counts read instead of going through every conversation. Kept by the database's own
    triggers on ``conversations`` (migration 0042), in the transaction of each change, whoever
    writes it; ``0`` stands for no mark and for nobody assigned. Several ``slot`` rows of a
    group add up: writers on PostgreSQL spread over them (by server process) so that concurrent
    transactions seldom wait on one counter row."""

    __tablename__ = "inbox_counts"

    shop_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    channel_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    mark_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    assignee_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    conversations: Mapped[int]


class ConversationChange(Base):
    """One change to a conversation and who made it; ``seconds`` is the time to first reply
    (kind ``first_reply``) or to resolve (status ``resolved``) it measured."""

    __tablename__ = "conversation_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    before: Mapped[str | None] = mapped_column(String(200))
    after: Mapped[str | None] = mapped_column(String(200))
    seconds: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_conversation_changes_conversation", "conversation_id", "id"),
        Index("ix_conversation_changes_shop_kind_at", "shop_id", "kind", "at"),
    )


class InboxMark(Base):
    """A shop's own mark (対応マーク) with a colour, put on conversations beside the status."""

    __tablename__ = "inbox_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    name: Mapped[str] = mapped_column(String(50))
    colour: Mapped[str] = mapped_column(String(16), default="gray")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)


class CannedReply(Base):
    """A prepared answer staff insert by its short code; ``{name}`` and the like are filled."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "code"),)


class ConversationReply(Base):
    """A reply staff composed, unique by the key the composer made: sent once however often
    the form is posted."""

    __tablename__ = "conversation_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[int] = mapped_column(BigId)
    author: Mapped[str] = mapped_column(String(200))
    # The conversation's version this reply made (one more than its author saw, if confirmed).
    version: Mapped[int]
    summary: Mapped[str] = mapped_column(Text)
    free: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "key"),)


class ConversationNote(Base):
    """An internal note on a conversation: staff read it, the friend never does."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffNotification(Base):
    """A staff member was mentioned in a note: listed for them until they read it."""

    __tablename__ = "staff_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    note_id: Mapped[int] = mapped_column(ForeignKey("conversation_notes.id"))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_staff_notifications_user", "staff_user_id", "read_at"),)


class InboxChannelSettings(Base):
    """How the shop reads a channel's chats: ``read_manually`` when the LINE Official Account
    is set to mark messages read by API (LINE's markAsReadMode ``manual``)."""

    __tablename__ = "inbox_channel_settings"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    read_manually: Mapped[bool] = mapped_column(Boolean, default=False)


class InboxSignal(Base):
    """A nudge that a conversation changed, written with the change: every hub process reads
    the new ones and tells its open consoles (server-sent events), whichever process made it.
    Kept for an hour."""

    __tablename__ = "inbox_signals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int]
    conversation_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxPresence(Base):
    """A staff member has the conversation open (``seen_at``: their page's last sign of life)
    and, while ``typing_at`` is recent, is writing a reply. Old rows mean nothing: a page that
    closed or went silent stops renewing its row."""

    __tablename__ = "inbox_presence"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    typing_at: Mapped[datetime | None]
    seen_at: Mapped[datetime]

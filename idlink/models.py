"""Friends (LINE users of a channel), members (the shop's customers) and the links between them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base


class FriendStatus(enum.StrEnum):
    FOLLOWED = "followed"
    BLOCKED = "blocked"
    # Erased on the person's request: no LINE user id, no profile; sent nothing again.
    ERASED = "erased"


class LinkMethod(enum.StrEnum):
    LIFF = "liff"
    ACCOUNT_LINK = "account_link"
    STAFF = "staff"


# The last message time the friends list sorts a friend who never wrote by (last of all).
LAST_MESSAGE_NEVER = "1970-01-01 00:00:00+00"


def month_day(birth_date: str | None) -> str | None:
    """ "MM-DD" of an ISO birth date ("1990-04-01" → "04-01")."""
    return birth_date[5:10] if birth_date else None


_LEFT = text("status <> 'followed'")


class Friend(Base):
    """A LINE user as seen by one channel (user ids are per provider)."""

    __tablename__ = "friends"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    line_user_id: Mapped[str] = mapped_column(String(33))
    status: Mapped[str] = mapped_column(String(16), default=FriendStatus.FOLLOWED)
    display_name: Mapped[str | None] = mapped_column(String(200))
    picture_url: Mapped[str | None] = mapped_column(Text)
    status_message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    follow_route: Mapped[str | None] = mapped_column(String(64))
    first_followed_at: Mapped[datetime | None]
    last_followed_at: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]
    # The LINE timestamp of the follow/unfollow that set `status`: older events arriving late
    # (redeliveries, retries) must not undo a newer one.
    status_changed_at: Mapped[datetime | None]
    profile_fetched_at: Mapped[datetime | None]
    # When the friend last sent the shop a message (kept by `friends.record_message`): the
    # friends list filters and sorts on it without reading the conversation.
    last_message_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tags: Mapped[list[FriendTag]] = relationship(
        back_populates="friend", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("channel_id", "line_user_id"),
        # The friends list's "part of the display name" search; a trigram index on PostgreSQL
        # (pg_trgm), so a 1,000,000-friend shop is not scanned for every keystroke.
        Index(
            "ix_friends_display_name_trgm",
            "display_name",
            postgresql_using="gin",
            postgresql_ops={"display_name": "gin_trgm_ops"},
        ),
        Index("ix_friends_shop_last_message", "shop_id", "last_message_at"),
        # The channel's friends who blocked the account or were erased: a claim of an audience
        # batch looks for those in the batch's range of ids, not up every friend of the batch.
        Index(
            "ix_friends_channel_left",
            "channel_id",
            "id",
            postgresql_where=_LEFT,
            sqlite_where=_LEFT,
        ),
        # The list's "last message" sort: its key, newest first, walked in order a page at a time.
        Index(
            "ix_friends_last_message_sort",
            "shop_id",
            text(f"coalesce(last_message_at, '{LAST_MESSAGE_NEVER}') DESC"),
            text("id DESC"),
        ),
    )


class Member(Base):
    """A shop's customer record. Personal data is encrypted; blind indexes allow look-ups."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    member_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(EncryptedText)
    email: Mapped[str | None] = mapped_column(EncryptedText)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    birth_date: Mapped[str | None] = mapped_column(EncryptedText)
    # "MM-DD" of the birth date, kept with it: birthday scans select on it without decrypting
    # every member, and it names nobody (no year).
    birth_month_day: Mapped[str | None] = mapped_column(String(5))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("shop_id", "member_number"),
        Index("ix_members_shop_birth_month_day", "shop_id", "birth_month_day"),
    )

    @validates("birth_date")
    def _derive_birth_month_day(self, _key: str, value: str | None) -> str | None:
        self.birth_month_day = month_day(value)
        return value

    @property
    def birth_date_value(self) -> date | None:
        return date.fromisoformat(self.birth_date) if self.birth_date else None


_ACTIVE = text("unlinked_at IS NULL")


class MemberLink(Base):
    """Friend ↔ member. At most one active link per friend, and per member within a provider."""

    __tablename__ = "member_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    method: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(200))
    unlinked_at: Mapped[datetime | None]
    unlinked_by: Mapped[str | None] = mapped_column(String(200))
    unlink_reason: Mapped[str | None] = mapped_column(String(200))

    friend: Mapped[Friend] = relationship()
    member: Mapped[Member] = relationship()

    __table_args__ = (
        Index(
            "uq_member_links_active_friend",
            "friend_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index(
            "uq_member_links_active_member",
            "provider_id",
            "member_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        # From members found by a search (name, email, phone) to their friends.
        Index("ix_member_links_member", "member_id"),
    )


class LinkCode(Base):
    """A one-time code the shop hands a member (printed, emailed) to link without a password."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class NoncePurpose(enum.StrEnum):
    ACCOUNT_LINK = "account_link"
    ID_TOKEN = "id_token"


class LinkNonce(Base):
    """A single-use nonce: account-link (bound to the verified member) or ID-token replay guard."""

    __tablename__ = "link_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class VerificationThrottle(Base):
    """Failed member verifications per subject (a member number, a LINE user) in a window."""

    __tablename__ = "verification_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    subject: Mapped[str] = mapped_column(String(128))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("shop_id", "subject"),)


class Tag(Base):
    """A label staff, clicks, links, imports and rules put on friends; grouped in folders."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    name: Mapped[str] = mapped_column(String(100))
    # One of idlink.schemas.TAG_COLOURS; the console draws the tag's chips in it.
    colour: Mapped[str] = mapped_column(String(16), default="gray", server_default="gray")
    # Folders are named by their tags: a folder exists while a tag is in it. NULL: no folder.
    folder: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)


class FriendTagEvent(Base):
    """A tag put on or taken off a friend, and who or what did it: the friend's tag history.

    The tag's name is kept as it was, so the history outlives a renamed or deleted tag.
    """

    __tablename__ = "friend_tag_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    tag_name: Mapped[str] = mapped_column(String(100))
    added: Mapped[bool]
    # staff:<email>, token:<name>, click:<source>, idlink:<method>, import:<file>, rule:<name>…
    source: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_friend_tag_events_friend_id_at", "friend_id", "at"),)


class FriendFollowEvent(Base):
    """The friend added the account, blocked it, or unblocked it (followed again): their
    follow history, at the time LINE says it happened."""

    __tablename__ = "friend_follow_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    kind: Mapped[str] = mapped_column(String(16))  # followed, blocked, unblocked
    at: Mapped[datetime]

    __table_args__ = (Index("ix_friend_follow_events_friend_id_at", "friend_id", "at"),)


class FriendTag(Base):
    __tablename__ = "friend_tags"

    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    friend: Mapped[Friend] = relationship(back_populates="tags")
    tag: Mapped[Tag] = relationship()

    # A tag's friends (list filters, bulk actions); the primary key serves a friend's tags.
    __table_args__ = (Index("ix_friend_tags_tag_friend", "tag_id", "friend_id"),)


class ConversationMessage(Base):
    """A message in a friend's conversation with the shop (inbound now; outbound later)."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    message_type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    line_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # The inbox search, "part of a message"; a trigram index on PostgreSQL (pg_trgm), so a
        # search does not read every message of the shop.
        Index(
            "ix_conversation_messages_text_trgm",
            "text",
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        ),
    )

"""Friends: follow state, profiles, tags and the conversation, kept from LINE's events."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connectors.line.client import Profile
from core.clock import utcnow
from core.db import insert
from core.tenancy import Channel
from idlink.models import (
    ConversationMessage,
    Friend,
    FriendFollowEvent,
    FriendStatus,
    FriendTag,
    FriendTagEvent,
    Tag,
)

log = logging.getLogger(__name__)


def get_or_create_friend(session: Session, *, channel: Channel, line_user_id: str) -> Friend:
    """The channel's friend with this LINE user id, created (as followed) on first sight.

    A new user's follow and first message are often processed at the same moment: the row is
    inserted with ``ON CONFLICT DO NOTHING`` so both find the same friend instead of one failing.
    """
    query = select(Friend).where(
        Friend.channel_id == channel.id, Friend.line_user_id == line_user_id
    )
    friend = session.scalar(query)
    if friend is None:
        session.execute(
            insert(session, Friend)
            .values(
                shop_id=channel.shop_id,
                channel_id=channel.id,
                line_user_id=line_user_id,
                status=FriendStatus.FOLLOWED,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["channel_id", "line_user_id"])
        )
        friend = session.scalars(query).one()
    return friend


def _history(session: Session, friend: Friend, kind: str, occurred_at: datetime) -> None:
    """One entry of the friend's follow history (their chart's timeline shows it)."""
    session.add(
        FriendFollowEvent(shop_id=friend.shop_id, friend_id=friend.id, kind=kind, at=occurred_at)
    )


def _is_newer(friend: Friend, occurred_at: datetime) -> bool:
    return friend.status_changed_at is None or occurred_at >= friend.status_changed_at


def record_follow(
    session: Session, *, channel: Channel, line_user_id: str, occurred_at: datetime
) -> Friend:
    """A follow (new friend or unblock). A late, older event never undoes a newer unfollow."""
    friend = get_or_create_friend(session, channel=channel, line_user_id=line_user_id)
    _history(
        session,
        friend,
        "followed" if friend.first_followed_at is None else "unblocked",
        occurred_at,
    )
    if friend.first_followed_at is None or occurred_at < friend.first_followed_at:
        friend.first_followed_at = occurred_at
    if friend.last_followed_at is None or occurred_at > friend.last_followed_at:
        friend.last_followed_at = occurred_at
    if _is_newer(friend, occurred_at):
        friend.status = FriendStatus.FOLLOWED
        friend.blocked_at = None
        friend.status_changed_at = occurred_at
    return friend


def record_unfollow(
    session: Session, *, channel: Channel, line_user_id: str, occurred_at: datetime
) -> Friend:
    """The friend blocked the account: nothing may be sent to them from now on."""
    friend = get_or_create_friend(session, channel=channel, line_user_id=line_user_id)
    _history(session, friend, "blocked", occurred_at)
    if _is_newer(friend, occurred_at):
        friend.status = FriendStatus.BLOCKED
        friend.blocked_at = occurred_at
        friend.status_changed_at = occurred_at
    return friend


def apply_profile(friend: Friend, profile: Profile, *, now: datetime | None = None) -> None:
    """Copy a fetched LINE profile onto the friend."""
    friend.display_name = profile.display_name
    friend.picture_url = profile.picture_url
    friend.status_message = profile.status_message
    friend.language = profile.language
    friend.profile_fetched_at = now or utcnow()


def record_message(
    session: Session,
    *,
    friend: Friend,
    direction: str,
    message: dict[str, Any],
    occurred_at: datetime,
) -> ConversationMessage:
    """Keep a message in the friend's conversation (idempotent on LINE's message id)."""
    line_message_id = message.get("id")
    if line_message_id:
        existing = session.scalar(
            select(ConversationMessage).where(
                ConversationMessage.line_message_id == line_message_id
            )
        )
        if existing is not None:
            return existing
    entry = ConversationMessage(
        shop_id=friend.shop_id,
        friend_id=friend.id,
        direction=direction,
        message_type=message.get("type", "unknown"),
        text=message.get("text"),
        payload=message,
        line_message_id=line_message_id,
        occurred_at=occurred_at,
    )
    session.add(entry)
    if direction == "in":
        _note_last_message(session, friend, occurred_at)
    return entry


def _note_last_message(session: Session, friend: Friend, occurred_at: datetime) -> None:
    """Move the friend's last message time forward (never back: messages arrive out of order);
    one conditional UPDATE, so two messages stored at once keep the later time."""
    session.execute(
        update(Friend)
        .where(
            Friend.id == friend.id,
            or_(Friend.last_message_at.is_(None), Friend.last_message_at < occurred_at),
        )
        .values(last_message_at=occurred_at)
        .execution_options(synchronize_session=False)
    )
    session.expire(friend, ["last_message_at"])


def add_tag(session: Session, *, friend: Friend, name: str, source: str) -> bool:
    """Tag the friend (creating the tag), kept in their tag history with ``source``; False when
    the friend already had it."""
    tag = session.scalar(select(Tag).where(Tag.shop_id == friend.shop_id, Tag.name == name))
    if tag is None:
        tag = Tag(shop_id=friend.shop_id, name=name)
        session.add(tag)
        session.flush()
    if session.get(FriendTag, (friend.id, tag.id)) is not None:
        return False
    session.add(FriendTag(friend_id=friend.id, tag_id=tag.id, source=source[:64]))
    session.add(_event(friend, tag.name, added=True, source=source))
    session.flush()
    return True


def remove_tag(session: Session, *, friend: Friend, name: str, source: str) -> bool:
    """Remove a tag from the friend, kept in their tag history; False when they did not have
    it."""
    tag = session.scalar(select(Tag).where(Tag.shop_id == friend.shop_id, Tag.name == name))
    link = None if tag is None else session.get(FriendTag, (friend.id, tag.id))
    if link is None:
        return False
    session.delete(link)
    session.add(_event(friend, name, added=False, source=source))
    session.flush()
    return True


def _event(friend: Friend, name: str, *, added: bool, source: str) -> FriendTagEvent:
    return FriendTagEvent(
        shop_id=friend.shop_id, friend_id=friend.id, tag_name=name, added=added, source=source[:200]
    )

"""Reading media: the medium behind a conversation message, its bytes, and what the chart and
the inbox show of each message's media."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from idlink.media import storage
from idlink.media.models import Media, MediaState
from idlink.models import Friend
from idlink.queries import friend_query


class MediaOut(BaseModel):
    """A medium a friend sent; ``url`` serves its content to signed-in staff once stored."""

    message_id: int | None = Field(description="The friend's message (none: staff sent it).")
    kind: str = Field(description="image, video, audio or file")
    state: str = Field(
        description="pending, stored, external, too_large, refused, failed or purged"
    )
    content_type: str | None
    size: int | None = Field(description="Bytes (as LINE declared it when too large).")
    file_name: str | None
    external_url: str | None = Field(
        description="Where the friend's app hosts it (contentProvider external)."
    )
    error: str | None
    occurred_at: datetime
    fetched_at: datetime | None


def out(media: Media) -> MediaOut:
    return MediaOut(
        message_id=media.message_id,
        kind=media.kind,
        state=media.state,
        content_type=media.content_type,
        size=media.size,
        file_name=media.file_name,
        external_url=media.external_url,
        error=media.error,
        occurred_at=media.occurred_at,
        fetched_at=media.fetched_at,
    )


class MediaNotFound(NotFound):
    """No medium for this message in the shop (or the staff member's channels)."""


def of_message(
    session: Session,
    shop_id: int,
    message_id: int,
    *,
    channel_scope: Sequence[str] | None = None,
) -> Media:
    """The medium of one conversation message of the shop (within ``channel_scope``, LINE
    channel ids), or MediaNotFound."""
    friends = friend_query(shop_id, channel_scope=channel_scope).with_only_columns(Friend.id)
    media = session.scalar(
        select(Media).where(
            Media.message_id == message_id,
            Media.shop_id == shop_id,
            Media.friend_id.in_(friends),
        )
    )
    if media is None:
        raise MediaNotFound(f"message {message_id} has no media in this shop")
    return media


class MediaContentMissing(NotFound):
    """The medium has no content to serve: not fetched yet, refused, too large, or purged."""


def content_of(session: Session, media: Media) -> bytes:
    """The stored bytes, or MediaContentMissing saying why there are none."""
    data = storage.of(media).get(session, media) if media.state == MediaState.STORED else None
    if data is None:
        state = "lost from its storage" if media.state == MediaState.STORED else media.state
        raise MediaContentMissing(f"the {media.kind} of message {media.message_id} is {state}")
    return data


def of_messages(session: Session, message_ids: Sequence[int]) -> dict[int, MediaOut]:
    """The media of these conversation messages, by message id (one query)."""
    if not message_ids:
        return {}
    found = session.scalars(select(Media).where(Media.message_id.in_(list(message_ids))))
    return {media.message_id: out(media) for media in found if media.message_id is not None}


def sent(session: Session, token: str) -> Media:
    """The medium staff sent under this public token, while its content is kept; else
    MediaNotFound (a purged or unknown token reads the same)."""
    media = session.scalar(
        select(Media).where(Media.public_token == token, Media.state == MediaState.STORED)
    )
    if media is None:
        raise MediaNotFound("no such medium")
    return media

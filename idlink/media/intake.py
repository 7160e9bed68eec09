"""Noting a friend's image, video, audio or file message when its event is processed, and
finding the fetches that are due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.inbox import InboundEvent
from idlink.media.models import MEDIA_KINDS, Media, MediaState
from idlink.models import ConversationMessage, Friend

FETCH_TASK = "media.fetch"
# The fetch is nudged at once; the sweeper takes a medium whose nudge was lost after this.
SWEEP_GRACE = timedelta(minutes=1)
MAX_URL_LENGTH = 2000


def on_line_event(
    session: Session, stored: InboundEvent, *, settings: Settings, now: datetime | None = None
) -> Media | None:
    """After a message event was applied: keep a row for its media and nudge the fetch.

    Idempotent on LINE's message id: a redelivered event finds the medium it made."""
    if stored.source != "line" or stored.event_type != "message":
        return None
    message: dict[str, Any] = (stored.payload or {}).get("message") or {}
    kind, line_message_id = message.get("type"), message.get("id")
    if kind not in MEDIA_KINDS or not isinstance(line_message_id, str) or not line_message_id:
        return None
    existing = session.scalar(select(Media).where(Media.line_message_id == line_message_id))
    if existing is not None:
        return existing
    entry = session.scalar(
        select(ConversationMessage).where(ConversationMessage.line_message_id == line_message_id)
    )
    if entry is None:
        return None
    friend = session.get_one(Friend, entry.friend_id)
    now = now or utcnow()
    media = Media(
        shop_id=entry.shop_id,
        channel_id=friend.channel_id,
        friend_id=friend.id,
        message_id=entry.id,
        line_message_id=line_message_id,
        kind=kind,
        occurred_at=entry.occurred_at,
        file_name=_file_name(message.get("fileName")),
    )
    provider = message.get("contentProvider") or {}
    declared_size = message.get("fileSize")
    if provider.get("type") == "external":
        _note_external(media, provider.get("originalContentUrl"))
    elif isinstance(declared_size, int) and declared_size > settings.media_max_bytes:
        media.state, media.size = MediaState.TOO_LARGE, declared_size
        media.error = f"{declared_size} bytes, over the limit of {settings.media_max_bytes}"
    else:
        media.state, media.next_attempt_at = MediaState.PENDING, now + SWEEP_GRACE
    session.add(media)
    session.flush()
    if media.state == MediaState.PENDING:
        enqueue_after_commit(session, FETCH_TASK, media_id=media.id)
    return media


def _note_external(media: Media, url: object) -> None:
    """Content a friend's app hosts elsewhere: the URL is kept (https only), nothing fetched."""
    if isinstance(url, str) and len(url) <= MAX_URL_LENGTH and urlsplit(url).scheme == "https":
        media.state, media.external_url = MediaState.EXTERNAL, url
    else:
        media.state, media.error = MediaState.FAILED, "external content without an https URL"


def _file_name(name: object) -> str | None:
    """The file's name as sent, without any folder part and cut to 255 characters."""
    if not isinstance(name, str):
        return None
    cleaned = "".join(c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    return cleaned.strip()[:255] or None


def due_fetches(session: Session, *, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Media waiting for a fetch whose time has come (a lost nudge, a retry later)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Media.id)
            .where(Media.state == MediaState.PENDING, Media.next_attempt_at <= now)
            .order_by(Media.next_attempt_at)
            .limit(limit)
        )
    )

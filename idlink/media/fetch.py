"""Fetching a medium from LINE: retried with backoff on 5xx and timeouts, size limited, type
checked, kept in the configured storage. Idempotent: a medium no longer pending is left as is."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from connectors.line.client import ChannelCredentials
from connectors.line.content import Content, ContentClient, Gone, NotReady
from core.clock import utcnow
from core.tenancy import Channel
from idlink.media import storage
from idlink.media.models import Media, MediaState

log = logging.getLogger(__name__)

# Pauses between the tries of one fetch run; later runs wait longer (``retry_delay``).
RETRY_PAUSES = (0.5, 1.5)
FIRST_RETRY_DELAY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=1)
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def fetch(
    session: Session,
    media_id: int,
    *,
    settings: Settings,
    now: datetime | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> str | None:
    """Download one pending medium and keep it; return its new state (None: nothing to do).

    The row stays locked while it downloads (PostgreSQL): a second worker given the same
    medium (a nudge and the sweeper) skips it instead of downloading it twice."""
    media = session.scalar(
        select(Media).where(Media.id == media_id).with_for_update(skip_locked=True)
    )
    if media is None or media.state != MediaState.PENDING or media.line_message_id is None:
        return None
    channel = session.get_one(Channel, media.channel_id)
    client = ContentClient(
        ChannelCredentials(access_token=channel.access_token, api_url=settings.line_api_url),
        timeout=settings.media_fetch_timeout_seconds,
    )
    media.attempts += 1
    try:
        content = _download(client, media.kind, media.line_message_id, pause)
    except RetriableError as exc:
        _retry_later(media, exc, settings, now or utcnow())
    except FatalError as exc:
        media.state, media.error, media.next_attempt_at = MediaState.FAILED, str(exc), None
    else:
        keep(session, media, content, settings=settings, now=now or utcnow())
    log.info("media %s (%s): %s", media.id, media.kind, media.state)
    return media.state


def _download(
    client: ContentClient, kind: str, line_message_id: str, pause: Callable[[float], None]
) -> Content:
    """LINE's content, trying again after a pause on 5xx, 429 and timeouts."""
    for delay in (*RETRY_PAUSES, None):
        try:
            if kind in ("video", "audio"):
                status = client.transcoding_status(line_message_id)
                if status == "processing":
                    raise NotReady("LINE is still preparing this content")
                if status == "failed":
                    raise Gone("LINE could not prepare this content")
            return client.download(line_message_id)
        except NotReady:
            raise
        except RetriableError:
            if delay is None:
                raise
            pause(delay)
    raise AssertionError("unreachable")


def _retry_later(media: Media, exc: RetriableError, settings: Settings, now: datetime) -> None:
    if media.attempts >= settings.media_fetch_attempts:
        media.state, media.next_attempt_at = MediaState.FAILED, None
        media.error = f"gave up after {media.attempts} fetches: {exc}"
        return
    media.error = str(exc)
    media.next_attempt_at = now + retry_delay(media.attempts)


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first run, doubling, at most an hour."""
    return min(FIRST_RETRY_DELAY * 2 ** (attempts - 1), MAX_RETRY_DELAY)


def keep(
    session: Session, media: Media, content: Content, *, settings: Settings, now: datetime
) -> None:
    """Store the bytes if they fit the limit and the message's kind."""
    size = len(content.data)
    media.size, media.next_attempt_at = size, None
    if size > settings.media_max_bytes:
        media.state = MediaState.TOO_LARGE
        media.error = f"{size} bytes, over the limit of {settings.media_max_bytes}"
        return
    content_type = checked_type(media.kind, content.content_type, content.data)
    if content_type is None:
        media.state = MediaState.REFUSED
        media.error = f"LINE sent {content.content_type or 'no type'} for a {media.kind} message"
        return
    store = storage.configured(settings)
    store.put(session, media, content.data)
    media.state, media.storage, media.content_type = MediaState.STORED, store.name, content_type
    media.sha256 = hashlib.sha256(content.data).hexdigest()
    media.fetched_at, media.error = now, None


def checked_type(kind: str, declared: str | None, data: bytes) -> str | None:
    """The type to keep, or None when the content does not fit the message's kind.

    An image is known by its first bytes (what browsers will render inline); a video or audio
    must say so; a file keeps any well-formed type (it is only ever served as a download)."""
    media_type = (declared or "").split(";", 1)[0].strip().lower()[:128]
    if not _MEDIA_TYPE.match(media_type):
        media_type = ""
    if kind == "image":
        return sniff_image(data)
    if kind in ("video", "audio"):
        return media_type if media_type.startswith(f"{kind}/") else None
    return media_type or "application/octet-stream"


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes start like (JPEG, PNG, GIF, WebP), or None."""
    for signature, media_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None

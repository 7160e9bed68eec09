"""The end of a medium: its content deleted after the retention period, or with the friend."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idlink.media import storage
from idlink.media.models import Media, MediaBlob, MediaState


def purge_older_than(
    session: Session, cutoff: datetime, *, now: datetime, limit: int = 1000
) -> int:
    """Delete the content of media sent before ``cutoff``; the row stays, marked purged, so
    the conversation shows that something was sent and has expired. Returns how many."""
    old = list(
        session.scalars(
            select(Media)
            .where(Media.occurred_at < cutoff, Media.purged_at.is_(None))
            .order_by(Media.id)
            .limit(limit)
        )
    )
    for media in old:
        _forget(session, media)
        media.state, media.purged_at = MediaState.PURGED, now
    return len(old)


def erase_of_friends(session: Session, friend_ids: list[int]) -> int:
    """Delete the media of erased friends, content and rows; returns how many."""
    if not friend_ids:
        return 0
    found = list(session.scalars(select(Media).where(Media.friend_id.in_(friend_ids))))
    for media in found:
        _forget(session, media)
    ids = [media.id for media in found]
    session.execute(delete(MediaBlob).where(MediaBlob.media_id.in_(ids)))
    session.execute(delete(Media).where(Media.id.in_(ids)))
    return len(found)


def _forget(session: Session, media: Media) -> None:
    if media.state == MediaState.STORED:
        storage.of(media).delete(session, media)
    media.external_url = media.file_name = media.sha256 = media.location = None

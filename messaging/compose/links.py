"""Tracked links: ``GET /r/{code}`` counts the click, tags the friend, and redirects."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from idlink import friends, tagging
from idlink.models import Friend
from messaging.compose.models import LinkClick, TrackedLink

log = logging.getLogger(__name__)

MAX_USER_AGENT = 300


def record_click(
    session: Session, *, code: str, user_agent: str | None = None, now: datetime | None = None
) -> str | None:
    """Record one click on ``code`` and return where it leads; None for an unknown code.

    The first click of a link tags its friend with the link's tag (if it has one).
    """
    now = now or utcnow()
    link = session.get(TrackedLink, code)
    if link is None:
        return None
    first = link.first_clicked_at is None
    session.execute(
        update(TrackedLink)
        .where(TrackedLink.code == code)
        .values(
            clicks=TrackedLink.clicks + 1,
            first_clicked_at=func.coalesce(TrackedLink.first_clicked_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    session.add(
        LinkClick(code=code, clicked_at=now, user_agent=(user_agent or "")[:MAX_USER_AGENT])
    )
    if first and link.tag:
        friend = session.get(Friend, link.friend_id)
        if friend is not None and friends.add_tag(
            session, friend=friend, name=link.tag, source=f"click:{link.source}"
        ):
            log.info("friend %s tagged %r by a click on %s", friend.id, link.tag, link.source)
    return link.url


@tagging.names_tags("tracked links")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """Links already sent: their first click gives the tag under its new name."""
    renamed = session.execute(
        update(TrackedLink)
        .where(TrackedLink.shop_id == shop_id, TrackedLink.tag == old)
        .values(tag=new)
    )
    return int(getattr(renamed, "rowcount", 0))

"""Reads of the shop's standalone tracked links: the list with their counts, and who clicked."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.pagination import decode_cursor, encode_cursor
from idlink.models import Friend
from messaging.compose import templates
from messaging.compose.link_schemas import FriendClicksOut, StandaloneLinkOut
from messaging.compose.models import StandaloneLink, TrackedLink


def link_list(session: Session, shop_id: int) -> list[StandaloneLinkOut]:
    """Every standalone link of the shop by name, with friends sent, friends who clicked and
    clicks."""
    counts = (
        select(
            TrackedLink.link_id,
            func.count().label("sent"),
            func.count(TrackedLink.first_clicked_at).label("clicked"),
            func.coalesce(func.sum(TrackedLink.clicks), 0).label("clicks"),
        )
        .where(TrackedLink.shop_id == shop_id, TrackedLink.link_id.is_not(None))
        .group_by(TrackedLink.link_id)
        .subquery()
    )
    rows = session.execute(
        select(
            StandaloneLink,
            func.coalesce(counts.c.sent, 0),
            func.coalesce(counts.c.clicked, 0),
            func.coalesce(counts.c.clicks, 0),
        )
        .outerjoin(counts, counts.c.link_id == StandaloneLink.id)
        .where(StandaloneLink.shop_id == shop_id)
        .order_by(StandaloneLink.name)
    )
    return [link_out(link, sent, clicked, clicks) for link, sent, clicked, clicks in rows]


def one_link(session: Session, link: StandaloneLink) -> StandaloneLinkOut:
    sent, clicked, clicks = session.execute(
        select(
            func.count(),
            func.count(TrackedLink.first_clicked_at),
            func.coalesce(func.sum(TrackedLink.clicks), 0),
        ).where(TrackedLink.link_id == link.id)
    ).one()
    return link_out(link, sent, clicked, clicks)


def link_out(link: StandaloneLink, sent: int, clicked: int, clicks: int) -> StandaloneLinkOut:
    return StandaloneLinkOut(
        id=link.id,
        name=link.name,
        url=link.url,
        tag=link.tag,
        placeholder=f"{{{{ {templates.TRACKED_PREFIX}{link.name} }}}}",
        friends_sent=sent,
        friends_clicked=clicked,
        clicks=int(clicks),
        updated_at=link.updated_at,
    )


def friend_clicks(
    session: Session, link: StandaloneLink, *, public_url: str, limit: int, cursor: str | None
) -> tuple[list[FriendClicksOut], str | None]:
    """The friends who clicked the link, by friend id (newest friends first), with their
    clicks: keyset-paged on the friend id."""
    query = (
        select(TrackedLink, Friend.display_name)
        .join(Friend, Friend.id == TrackedLink.friend_id)
        .where(TrackedLink.link_id == link.id, TrackedLink.clicks > 0)
    )
    if cursor is not None:
        query = query.where(TrackedLink.friend_id < decode_cursor(cursor))
    rows = session.execute(query.order_by(TrackedLink.friend_id.desc()).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1][0].friend_id) if len(rows) > limit else None
    base = public_url.rstrip("/")
    items = [
        FriendClicksOut(
            friend_id=tracked.friend_id,
            display_name=name,
            clicks=tracked.clicks,
            first_clicked_at=tracked.first_clicked_at,
            url=f"{base}/r/{tracked.code}",
        )
        for tracked, name in rows[:limit]
    ]
    return items, next_cursor

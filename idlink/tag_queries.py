"""Reads of the shop's tags: the list by folder with how many friends carry each, and the
colours the console draws chips in."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idlink.models import FriendTag, Tag
from idlink.tag_schemas import TagColour, TagOut


def tag_list(session: Session, shop_id: int) -> list[TagOut]:
    """Every tag of the shop with its number of friends: folderless first, then by folder and
    name."""
    carriers = (
        select(FriendTag.tag_id, func.count().label("friends"))
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(Tag.shop_id == shop_id)
        .group_by(FriendTag.tag_id)
        .subquery()
    )
    query = (
        select(Tag, func.coalesce(carriers.c.friends, 0))
        .outerjoin(carriers, carriers.c.tag_id == Tag.id)
        .where(Tag.shop_id == shop_id)
        .order_by(Tag.folder.is_not(None), Tag.folder, Tag.name)
    )
    return [
        TagOut(
            id=tag.id,
            name=tag.name,
            colour=cast(TagColour, tag.colour),
            folder=tag.folder,
            friends=count,
            created_at=tag.created_at,
        )
        for tag, count in session.execute(query)
    ]


def carriers(session: Session, tag_id: int) -> int:
    """How many friends carry the tag."""
    count = session.scalar(select(func.count()).where(FriendTag.tag_id == tag_id))
    return count or 0


def colours(session: Session, shop_id: int) -> dict[str, str]:
    """Each tag's colour by name, for drawing a friend's tag chips."""
    return dict(session.execute(select(Tag.name, Tag.colour).where(Tag.shop_id == shop_id)).all())

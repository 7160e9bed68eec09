"""Reads of the shop's tags: the list by folder with how many friends carry each, and the
colours the console draws chips in."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from idlink.models import Friend, FriendTag, Member, MemberLink, Tag
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


def friends_by_member_number(
    session: Session, shop_id: int, numbers: Collection[str]
) -> dict[str, list[int]]:
    """The friends each member is linked to now, by member number; a member of the shop who is
    not linked has an empty list, a number of no member is absent."""
    found: dict[str, list[int]] = {}
    for number, friend_id in session.execute(
        select(Member.member_number, MemberLink.friend_id)
        .outerjoin(
            MemberLink,
            and_(MemberLink.member_id == Member.id, MemberLink.unlinked_at.is_(None)),
        )
        .where(Member.shop_id == shop_id, Member.member_number.in_(list(numbers)))
    ):
        friends = found.setdefault(number, [])
        if friend_id is not None:
            friends.append(friend_id)
    return found


def friends_by_line_user_id(
    session: Session, shop_id: int, user_ids: Collection[str]
) -> dict[str, list[int]]:
    """The shop's friends by LINE user id (one per channel of the same provider)."""
    found: dict[str, list[int]] = {}
    for user_id, friend_id in session.execute(
        select(Friend.line_user_id, Friend.id).where(
            Friend.shop_id == shop_id, Friend.line_user_id.in_(list(user_ids))
        )
    ):
        found.setdefault(user_id, []).append(friend_id)
    return found

"""The shop's friend tags and how many friends carry each: the values ``/friends?tag=`` takes."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from api.admin.schemas import TagList, TagOut
from api.deps import CurrentShop, DbSession
from idlink.models import FriendTag, Tag

router = APIRouter(tags=["friends"])


@router.get("/tags", summary="List tags")
def list_tags(session: DbSession, shop: CurrentShop) -> TagList:
    """Every tag of the shop with its number of friends, by name."""
    query = (
        select(Tag.name, func.count(FriendTag.friend_id), Tag.created_at)
        .outerjoin(FriendTag, FriendTag.tag_id == Tag.id)
        .where(Tag.shop_id == shop.id)
        .group_by(Tag.id, Tag.name, Tag.created_at)
        .order_by(Tag.name)
    )
    return TagList(
        items=[
            TagOut(name=name, friends=count, created_at=created_at)
            for name, count, created_at in session.execute(query)
        ]
    )

"""Friends of the shop's channels: follow status, profile, tags and the member each is linked to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit, fetch_page
from api.admin.schemas import ErrorBody, FriendOut, Page
from api.deps import CurrentShop, DbSession
from core.errors import NotFound
from idlink.models import Friend
from idlink.queries import friend_query, render_friends
from idlink.schemas import FriendFilters

router = APIRouter(tags=["friends"])


class FriendNotFound(NotFound):
    """No friend with this id in the caller's shop."""


@router.get("/friends", summary="List friends")
def list_friends(
    session: DbSession,
    shop: CurrentShop,
    filters: Annotated[FriendFilters, Query()],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FriendOut]:
    """The shop's LINE friends, newest first, with profile, follow status, tags and link."""
    query = friend_query(shop.id, filters)
    friends, next_cursor = fetch_page(session, query, Friend.id, limit=limit, cursor=cursor)
    return Page(items=render_friends(session, shop.id, friends), next_cursor=next_cursor)


@router.get(
    "/friends/{friend_id}",
    summary="Get a friend",
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def get_friend(friend_id: int, session: DbSession, shop: CurrentShop) -> FriendOut:
    """One friend of the shop."""
    friend = session.scalar(friend_query(shop.id).where(Friend.id == friend_id))
    if friend is None:
        raise FriendNotFound(f"no friend {friend_id} in this shop: GET /friends lists them")
    return render_friends(session, shop.id, [friend])[0]

"""Friends of the shop's channels: follow status, profile, tags and the member each is linked to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Exists, Select, exists, func, select
from sqlalchemy.orm import Session

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit, fetch_page
from api.admin.schemas import ActiveLink, ErrorBody, FriendOut, FriendProfile, Page
from api.deps import CurrentShop, DbSession
from core.errors import NotFound
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus, FriendTag, Member, MemberLink, Tag

router = APIRouter(tags=["friends"])


class FriendNotFound(NotFound):
    """No friend with this id in the caller's shop."""


def _active_link_exists() -> Exists:
    return exists().where(MemberLink.friend_id == Friend.id, MemberLink.unlinked_at.is_(None))


def friend_query(
    shop_id: int,
    *,
    status: FriendStatus | None = None,
    linked: bool | None = None,
    tag: str | None = None,
    channel_id: str | None = None,
    line_user_id: str | None = None,
) -> Select[Friend]:
    """The shop's friends matching every filter given."""
    query = select(Friend).where(Friend.shop_id == shop_id)
    if status is not None:
        query = query.where(Friend.status == status)
    if linked is not None:
        query = query.where(_active_link_exists() if linked else ~_active_link_exists())
    if tag is not None:
        query = query.where(
            exists().where(
                FriendTag.friend_id == Friend.id,
                FriendTag.tag_id == Tag.id,
                Tag.shop_id == shop_id,
                Tag.name == tag,
            )
        )
    if channel_id is not None:
        query = query.where(
            Friend.channel_id.in_(
                select(Channel.id).where(
                    Channel.shop_id == shop_id, Channel.line_channel_id == channel_id
                )
            )
        )
    if line_user_id is not None:
        query = query.where(Friend.line_user_id == line_user_id)
    return query


def render_friends(session: Session, shop_id: int, friends: Sequence[Friend]) -> list[FriendOut]:
    """Friends with their channel, tags and active link, in three queries whatever the count."""
    ids = [f.id for f in friends]
    channels = dict(
        session.execute(
            select(Channel.id, Channel.line_channel_id).where(Channel.shop_id == shop_id)
        ).all()
    )
    tags: dict[int, list[str]] = {}
    tag_rows = session.execute(
        select(FriendTag.friend_id, Tag.name)
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(FriendTag.friend_id.in_(ids))
        .order_by(Tag.name)
    ).all()
    for friend_id, name in tag_rows:
        tags.setdefault(friend_id, []).append(name)
    links = {
        link.friend_id: ActiveLink(
            link_id=link.id,
            member_id=link.member_id,
            member_number=number,
            method=link.method,
            linked_at=link.linked_at,
        )
        for link, number in session.execute(
            select(MemberLink, Member.member_number)
            .join(Member, Member.id == MemberLink.member_id)
            .where(MemberLink.friend_id.in_(ids), MemberLink.unlinked_at.is_(None))
        ).all()
    }
    return [
        FriendOut(
            id=f.id,
            channel_id=channels[f.channel_id],
            line_user_id=f.line_user_id,
            status=FriendStatus(f.status),
            profile=FriendProfile(
                display_name=f.display_name,
                picture_url=f.picture_url,
                status_message=f.status_message,
                language=f.language,
                fetched_at=f.profile_fetched_at,
            ),
            follow_route=f.follow_route,
            first_followed_at=f.first_followed_at,
            last_followed_at=f.last_followed_at,
            blocked_at=f.blocked_at,
            tags=tags.get(f.id, []),
            linked=f.id in links,
            link=links.get(f.id),
            created_at=f.created_at,
        )
        for f in friends
    ]


class FriendFilters:
    """The filters the friends list and its count share (query parameters)."""

    def __init__(
        self,
        status: FriendStatus | None = Query(None, description="`followed` or `blocked`."),
        linked: bool | None = Query(None, description="Only friends linked (or not) to a member."),
        tag: str | None = Query(None, description="Only friends with this tag."),
        channel_id: str | None = Query(None, description="Only friends of this LINE channel."),
        line_user_id: str | None = Query(None, description="The friend with this LINE user ID."),
    ) -> None:
        self.status, self.linked, self.tag = status, linked, tag
        self.channel_id, self.line_user_id = channel_id, line_user_id

    def query(self, shop_id: int) -> Select[Friend]:
        """The shop's friends matching every filter given."""
        return friend_query(
            shop_id,
            status=self.status,
            linked=self.linked,
            tag=self.tag,
            channel_id=self.channel_id,
            line_user_id=self.line_user_id,
        )


Filters = Annotated[FriendFilters, Depends()]


class FriendCount(BaseModel):
    count: int = Field(description="Friends matching every filter given.")


@router.get("/friends", summary="List friends")
def list_friends(
    session: DbSession,
    shop: CurrentShop,
    filters: Filters,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FriendOut]:
    """The shop's LINE friends, newest first, with profile, follow status, tags and link."""
    query = filters.query(shop.id)
    friends, next_cursor = fetch_page(session, query, Friend.id, limit=limit, cursor=cursor)
    return Page(items=render_friends(session, shop.id, friends), next_cursor=next_cursor)


@router.get("/friends/count", summary="Count friends")
def count_friends(session: DbSession, shop: CurrentShop, filters: Filters) -> FriendCount:
    """How many of the shop's friends match the filters (the list's filters), in one query."""
    matching = filters.query(shop.id).with_only_columns(Friend.id).subquery()
    return FriendCount(count=session.scalar(select(func.count()).select_from(matching)) or 0)


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

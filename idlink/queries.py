"""Reads of friends: the shop's friends (in the staff's channels) and their rendering."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import Friend, FriendStatus, FriendTag, Member, MemberLink, Tag
from idlink.schemas import ActiveLink, FriendOut, FriendProfile


def friend_query(
    shop_id: int,
    *,
    channel_scope: Sequence[str] | None = None,
    channel_id: str | None = None,
    line_user_id: str | None = None,
) -> Select[Friend]:
    """The shop's friends; ``channel_scope`` (LINE channel ids) keeps only those channels'
    friends, for staff limited to some stores; ``channel_id`` one channel's."""
    query = select(Friend).where(Friend.shop_id == shop_id)
    channels = [channel_id] if channel_id is not None else None
    for allowed in (channels, channel_scope):
        if allowed is not None:
            query = query.where(
                Friend.channel_id.in_(
                    select(Channel.id).where(
                        Channel.shop_id == shop_id, Channel.line_channel_id.in_(allowed)
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

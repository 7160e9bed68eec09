"""Reads of friends: the shop's friends (in the staff's channels) and their rendering."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from core import crypto
from core.errors import NotFound
from core.queries import line_channel_ids
from core.tenancy import Channel
from idlink import members as member_service
from idlink.identities import ExternalIdentity, IdentityReview
from idlink.models import Friend, FriendStatus, FriendTag, LinkMethod, Member, MemberLink, Tag
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


class FriendNotFound(NotFound):
    """No friend with this id in the staff member's or token's shop (or channels)."""


def find_friend(
    session: Session, shop_id: int, friend_id: int, *, channel_scope: Sequence[str] | None = None
) -> Friend:
    """The shop's friend (within ``channel_scope``), or FriendNotFound."""
    friend = session.scalar(
        friend_query(shop_id, channel_scope=channel_scope).where(Friend.id == friend_id)
    )
    if friend is None:
        raise FriendNotFound(f"no friend {friend_id} in this shop: GET /friends lists them")
    return friend


def render_friends(session: Session, shop_id: int, friends: Sequence[Friend]) -> list[FriendOut]:
    """Friends with their channel, tags and active link, in three queries whatever the count."""
    ids = [f.id for f in friends]
    channels = line_channel_ids(session, shop_id)
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


def member_query(
    shop_id: int,
    *,
    member_number: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    linked: bool | None = None,
) -> Select[Member]:
    """The shop's members matching every filter; email and phone match on their blind index."""
    query = select(Member).where(Member.shop_id == shop_id)
    box = crypto.box()
    if member_number is not None:
        number = member_service.normalize_member_number(member_number)
        query = query.where(Member.member_number == number)
    if email is not None:
        email_index = box.blind_index(member_service.normalize_email(email))
        query = query.where(Member.email_index == email_index)
    if phone is not None:
        phone_index = box.blind_index(member_service.normalize_phone(phone))
        query = query.where(Member.phone_index == phone_index)
    if linked is not None:
        active = exists().where(MemberLink.member_id == Member.id, MemberLink.unlinked_at.is_(None))
        query = query.where(active if linked else ~active)
    return query


def active_links_of_members(
    session: Session, member_ids: Sequence[int]
) -> list[tuple[MemberLink, str]]:
    """The members' current links, each with its friend's LINE user id."""
    rows = session.execute(
        select(MemberLink, Friend.line_user_id)
        .join(Friend, Friend.id == MemberLink.friend_id)
        .where(MemberLink.member_id.in_(member_ids), MemberLink.unlinked_at.is_(None))
    )
    return [(link, line_user_id) for link, line_user_id in rows]


def linked_member_id(session: Session, friend_id: int) -> int | None:
    """The member the friend is linked to now, if any."""
    return session.scalar(
        select(MemberLink.member_id).where(
            MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None)
        )
    )


def link_query(
    shop_id: int,
    *,
    active: bool | None = None,
    member_id: int | None = None,
    friend_id: int | None = None,
    method: LinkMethod | None = None,
) -> Select[MemberLink]:
    """The shop's links, current and ended, matching every filter given."""
    query = select(MemberLink).where(MemberLink.shop_id == shop_id)
    if active is not None:
        ended = MemberLink.unlinked_at.is_not(None)
        query = query.where(~ended if active else ended)
    if member_id is not None:
        query = query.where(MemberLink.member_id == member_id)
    if friend_id is not None:
        query = query.where(MemberLink.friend_id == friend_id)
    if method is not None:
        query = query.where(MemberLink.method == method)
    return query


def link_ends(session: Session, link_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Link id → (the friend's LINE user id, the member's number)."""
    rows = session.execute(
        select(MemberLink.id, Friend.line_user_id, Member.member_number)
        .join(Friend, Friend.id == MemberLink.friend_id)
        .join(Member, Member.id == MemberLink.member_id)
        .where(MemberLink.id.in_(link_ids))
    )
    return {link_id: (line_user_id, number) for link_id, line_user_id, number in rows}


def open_reviews_query(shop_id: int) -> Select[IdentityReview]:
    """The shop's identity reviews nobody has resolved yet."""
    return select(IdentityReview).where(
        IdentityReview.shop_id == shop_id, IdentityReview.resolved_at.is_(None)
    )


def identities_by_id(session: Session, ids: Sequence[int]) -> dict[int, ExternalIdentity]:
    """External identities by their row id."""
    found = session.scalars(select(ExternalIdentity).where(ExternalIdentity.id.in_(ids)))
    return {identity.id: identity for identity in found}

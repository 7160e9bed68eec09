"""Links between LINE friends and members: create, refuse or replace, end, and follow up in LINE.

One active link per friend, and per member within a LINE provider (the database enforces both
with partial unique indexes). Linking someone already linked is refused, or replaces the old
link when the shop's policy is ``replace``; every link, unlink and refusal is audited.

After the database change, the friend's rich menu must follow (member menu when linked, guest
menu or the default when not). That LINE call runs after commit in the ``idlink.sync_rich_menu``
task rather than in the request: LINE being down must not undo or block a link. The task works
out the menu from the link state at the time it runs, so it is idempotent, any re-run
converges, and it retries itself on LINE's retriable failures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError
from connectors.line.client import ChannelCredentials, LineClient
from core import audit, crypto
from core.enqueue import enqueue_after_commit
from core.errors import NotFound
from core.tenancy import Channel, LinkPolicy, Shop
from idlink import friends, members
from idlink.errors import (
    LinkNotFound,
    LinkRefused,
)
from idlink.models import Friend, LinkMethod, LinkNonce, Member, MemberLink, NoncePurpose

log = logging.getLogger(__name__)

LINKED_TAG = "linked"
SYNC_TASK = "idlink.sync_rich_menu"
NONCE_TTL = timedelta(minutes=10)
NONCE_BYTES = 32


def member_actor(line_user_id: str) -> str:
    """The audit actor for something a member did from their LINE account."""
    return f"line:{line_user_id}"


# Links


def active_link_of_friend(session: Session, friend_id: int) -> MemberLink | None:
    """The friend's active link, if any."""
    return session.scalar(
        select(MemberLink).where(
            MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None)
        )
    )


def active_link_of_member(
    session: Session, *, provider_id: str, member_id: int
) -> MemberLink | None:
    """The member's active link within a LINE provider, if any."""
    return session.scalar(
        select(MemberLink).where(
            MemberLink.provider_id == provider_id,
            MemberLink.member_id == member_id,
            MemberLink.unlinked_at.is_(None),
        )
    )


def _conflicts(
    session: Session, *, channel: Channel, friend: Friend, member: Member
) -> tuple[MemberLink | None, list[tuple[MemberLink, str]]]:
    """The link that already joins these two (if any), and the links in the way with why."""
    of_friend = active_link_of_friend(session, friend.id)
    if of_friend is not None and of_friend.member_id == member.id:
        return of_friend, []
    in_the_way: list[tuple[MemberLink, str]] = []
    if of_friend is not None:
        in_the_way.append((of_friend, LinkRefused.FRIEND_TAKEN))
    of_member = active_link_of_member(session, provider_id=channel.provider_id, member_id=member.id)
    if of_member is not None:
        in_the_way.append((of_member, LinkRefused.MEMBER_TAKEN))
    return None, in_the_way


def ensure_linkable(
    session: Session, *, channel: Channel, friend: Friend, member: Member, actor: str
) -> None:
    """Raise LinkRefused now if linking would be refused under the shop's policy."""
    _, in_the_way = _conflicts(session, channel=channel, friend=friend, member=member)
    if in_the_way and session.get_one(Shop, channel.shop_id).link_policy != LinkPolicy.REPLACE:
        existing, detail = in_the_way[0]
        raise LinkRefused(
            detail,
            shop_id=channel.shop_id,
            member_id=member.id,
            friend_id=friend.id,
            existing_link_id=existing.id,
            actor=actor,
        )


def link_member(
    session: Session,
    *,
    channel: Channel,
    friend: Friend,
    member: Member,
    method: LinkMethod,
    actor: str,
    now: datetime,
) -> MemberLink:
    """Link the friend to the member (idempotent); refuse or replace links in the way."""
    existing, in_the_way = _conflicts(session, channel=channel, friend=friend, member=member)
    if existing is not None:
        return existing
    ensure_linkable(session, channel=channel, friend=friend, member=member, actor=actor)
    for old, _ in in_the_way:
        unlink(session, link=old, actor=actor, reason="replaced", now=now)
    # The partial unique indexes must see the replaced links ended before the new row exists.
    session.flush()
    link = MemberLink(
        shop_id=channel.shop_id,
        provider_id=channel.provider_id,
        friend_id=friend.id,
        member_id=member.id,
        method=method,
        linked_at=now,
        linked_by=actor,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        shop_id=channel.shop_id,
        actor=actor,
        action="idlink.linked",
        subject_type="member_link",
        subject_id=link.id,
        now=now,
        friend_id=friend.id,
        member_id=member.id,
        method=str(method),
        replaced_link_ids=[old.id for old, _ in in_the_way],
    )
    friends.add_tag(session, friend=friend, name=LINKED_TAG, source=f"idlink:{method}")
    _follow_up_in_line(session, channel, friend.id)
    return link


def unlink(
    session: Session, *, link: MemberLink, actor: str, reason: str, now: datetime
) -> MemberLink:
    """End an active link: audited, the ``linked`` tag removed, the rich menu put back."""
    link.unlinked_at = now
    link.unlinked_by = actor
    link.unlink_reason = reason
    audit.record(
        session,
        shop_id=link.shop_id,
        actor=actor,
        action="idlink.unlinked",
        subject_type="member_link",
        subject_id=link.id,
        now=now,
        friend_id=link.friend_id,
        member_id=link.member_id,
        reason=reason,
    )
    friend = session.get_one(Friend, link.friend_id)
    friends.remove_tag(session, friend=friend, name=LINKED_TAG, source="idlink:unlink")
    _follow_up_in_line(session, session.get_one(Channel, friend.channel_id), friend.id)
    return link


def unlink_friend(
    session: Session, *, friend: Friend, actor: str, reason: str, now: datetime
) -> MemberLink:
    """End the friend's active link; LinkNotFound when there is none."""
    link = active_link_of_friend(session, friend.id)
    if link is None:
        raise LinkNotFound("This LINE account is not linked to a membership.")
    return unlink(session, link=link, actor=actor, reason=reason, now=now)


def _follow_up_in_line(session: Session, channel: Channel, friend_id: int) -> None:
    if channel.member_rich_menu_id or channel.guest_rich_menu_id:
        enqueue_after_commit(session, SYNC_TASK, friend_id=friend_id)


# Rich menus


def line_client(channel: Channel, settings: Settings) -> LineClient:
    """A LINE client for the channel at the configured LINE API base URL."""
    return LineClient(
        ChannelCredentials(access_token=channel.access_token, api_url=settings.line_api_url)
    )


def sync_rich_menu(session: Session, *, friend_id: int, settings: Settings) -> str:
    """Show the friend the menu their link state calls for; return what was done.

    Raises RetriableError when LINE should be tried again; a fatal answer (say, a rich menu id
    that does not exist) is logged and not retried.
    """
    friend = session.get(Friend, friend_id)
    if friend is None:
        return "friend gone"
    channel = session.get_one(Channel, friend.channel_id)
    linked = active_link_of_friend(session, friend.id) is not None
    menu = channel.member_rich_menu_id if linked else channel.guest_rich_menu_id
    client = line_client(channel, settings)
    try:
        if menu:
            client.link_rich_menu(friend.line_user_id, menu)
            return f"linked {menu}"
        if channel.member_rich_menu_id:
            client.unlink_rich_menu(friend.line_user_id)
            return "unlinked"
    except FatalError as exc:
        log.warning("rich menu of friend %s not changed: %s", friend.id, exc)
        return f"refused: {exc}"
    return "nothing to do"


# ID tokens


@dataclass(frozen=True, slots=True)
class IssuedNonce:
    nonce: str
    expires_at: datetime


def issue_nonce(
    session: Session,
    *,
    channel: Channel,
    purpose: NoncePurpose,
    now: datetime,
    member_id: int | None = None,
    line_user_id: str | None = None,
) -> IssuedNonce:
    """A single-use nonce (256 bits, 10 minutes); only its hash is stored."""
    nonce = crypto.new_token(NONCE_BYTES)
    session.add(
        LinkNonce(
            shop_id=channel.shop_id,
            channel_id=channel.id,
            purpose=purpose,
            nonce_hash=crypto.sha256_hex(nonce),
            member_id=member_id,
            line_user_id=line_user_id,
            created_at=now,
            expires_at=now + NONCE_TTL,
        )
    )
    session.flush()
    return IssuedNonce(nonce=nonce, expires_at=now + NONCE_TTL)


def find_nonce(
    session: Session, *, channel: Channel, purpose: NoncePurpose, nonce: str
) -> LinkNonce | None:
    """The stored nonce of this channel and purpose, locked for update; None when unknown."""
    return session.scalar(
        select(LinkNonce)
        .where(
            LinkNonce.nonce_hash == crypto.sha256_hex(nonce),
            LinkNonce.channel_id == channel.id,
            LinkNonce.purpose == purpose,
        )
        .with_for_update()
    )


# Staff


def shop_channel(session: Session, *, shop: Shop, line_channel_id: str) -> Channel:
    """The shop's channel with this LINE channel id; another shop's is as absent as none."""
    channel = session.scalar(
        select(Channel).where(
            Channel.shop_id == shop.id, Channel.line_channel_id == line_channel_id
        )
    )
    if channel is None:
        raise NotFound(f"no channel {line_channel_id} in this shop: `tsunagu channel list`")
    return channel


def shop_friend(session: Session, *, shop: Shop, friend_id: int) -> Friend:
    """The shop's friend with this id."""
    friend = session.get(Friend, friend_id)
    if friend is None or friend.shop_id != shop.id:
        raise NotFound(f"no friend {friend_id} in this shop")
    return friend


def shop_member(session: Session, *, shop: Shop, member_number: str) -> Member:
    """The shop's member with this number."""
    try:
        member = members.find_by_number(session, shop_id=shop.id, member_number=member_number)
    except members.InvalidMemberData:
        member = None
    if member is None:
        raise NotFound(f"no member number {member_number!r} in this shop")
    return member


def link_by_staff(
    session: Session, *, shop: Shop, friend_id: int, member_number: str, actor: str, now: datetime
) -> MemberLink:
    """Staff link a friend to a member (same policy as members linking themselves)."""
    friend = shop_friend(session, shop=shop, friend_id=friend_id)
    member = shop_member(session, shop=shop, member_number=member_number)
    return link_member(
        session,
        channel=session.get_one(Channel, friend.channel_id),
        friend=friend,
        member=member,
        method=LinkMethod.STAFF,
        actor=actor,
        now=now,
    )


def unlink_by_staff(
    session: Session, *, shop: Shop, link_id: int, actor: str, now: datetime
) -> MemberLink:
    """Staff end an active link."""
    link = session.get(MemberLink, link_id)
    if link is None or link.shop_id != shop.id or link.unlinked_at is not None:
        raise LinkNotFound(f"no active link {link_id} in this shop: GET /links lists them")
    return unlink(session, link=link, actor=actor, reason="staff", now=now)


@dataclass(frozen=True, slots=True)
class ChannelLinkingChanges:
    """Fields to change on a channel; ``None`` leaves a field, ``""`` clears it."""

    liff_id: str | None = None
    member_rich_menu_id: str | None = None
    guest_rich_menu_id: str | None = None


def configure_channel(
    session: Session,
    *,
    shop: Shop,
    line_channel_id: str,
    changes: ChannelLinkingChanges,
    actor: str,
    now: datetime,
) -> Channel:
    """Set the channel's LIFF app and member/guest rich menus; audited."""
    channel = shop_channel(session, shop=shop, line_channel_id=line_channel_id)
    changed: dict[str, str | None] = {}
    for name in ("liff_id", "member_rich_menu_id", "guest_rich_menu_id"):
        value = getattr(changes, name)
        if value is not None and (value or None) != getattr(channel, name):
            setattr(channel, name, value or None)
            changed[name] = value or None
    if changed:
        audit.record(
            session,
            shop_id=shop.id,
            actor=actor,
            action="channel.linking_configured",
            subject_type="channel",
            subject_id=channel.id,
            now=now,
            **changed,
        )
    return channel

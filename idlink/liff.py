"""The LIFF member card: verify the LINE user's ID token, then show, make or end their link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from core.errors import NotSetUp
from core.tenancy import Channel, Shop
from idlink import tokens, verification
from idlink.errors import IdTokenRejected, IdTokenReplayed, NotAFriend
from idlink.models import Friend, LinkMethod, Member, MemberLink, NoncePurpose
from idlink.service import (
    active_link_of_friend,
    find_nonce,
    link_member,
    member_actor,
    unlink_friend,
)


def verify_id_token(
    session: Session,
    *,
    channel: Channel,
    id_token: str,
    nonce: str | None,
    consume: bool,
    settings: Settings,
    now: datetime,
) -> tokens.IdTokenClaims:
    """Verify a LIFF ID token as configured (local or remote) and its nonce when it has one.

    A nonce must have been issued by this hub for this channel, unexpired and, when
    ``consume``, unused — it is then used up, so a replayed token is refused.
    """
    if not channel.login_channel_id:
        raise NotSetUp(
            "member linking is not available on this channel yet",
            hint=f"channel {channel.line_channel_id} has no LINE Login channel id: register it "
            "with `tsunagu channel add --login-channel-id`",
        )
    login = tokens.LoginChannel(channel.login_channel_id, channel.login_channel_secret)
    if settings.id_token_verification == "remote":
        claims = tokens.verify_remotely(
            id_token, login, line_api_url=settings.line_api_url, nonce=nonce, now=now
        )
    else:
        claims = tokens.verify_locally(
            id_token, login, jwks=tokens.jwks_cache(settings.line_api_url), now=now
        )
    if nonce is not None and claims.nonce != nonce:
        raise IdTokenRejected(f"The ID token does not carry the expected nonce. {tokens.REOPEN}")
    if claims.nonce is not None:
        _check_token_nonce(session, channel=channel, nonce=claims.nonce, consume=consume, now=now)
    return claims


def identify(
    session: Session, *, channel: Channel, id_token: str, settings: Settings, now: datetime
) -> tuple[str, Friend | None]:
    """The LINE user a LIFF page was opened by (its ID token verified, no nonce asked for) and
    their friend row on ``channel``, if they ever followed it: how a route page or a form knows
    who opened it without a login or anything personal in the URL."""
    claims = verify_id_token(
        session,
        channel=channel,
        id_token=id_token,
        nonce=None,
        consume=False,
        settings=settings,
        now=now,
    )
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == channel.id, Friend.line_user_id == claims.sub)
    )
    return claims.sub, friend


def _check_token_nonce(
    session: Session, *, channel: Channel, nonce: str, consume: bool, now: datetime
) -> None:
    stored = find_nonce(session, channel=channel, purpose=NoncePurpose.ID_TOKEN, nonce=nonce)
    if stored is None or stored.expires_at <= now:
        raise IdTokenReplayed(
            f"The ID token's nonce was not issued by this shop or has expired. {tokens.REOPEN}"
        )
    if consume:
        if stored.used_at is not None:
            raise IdTokenReplayed(f"This ID token was already used. {tokens.REOPEN}")
        stored.used_at = now


def friend_of(session: Session, *, channel: Channel, line_user_id: str) -> Friend:
    """The channel's friend with this LINE user id; NotAFriend when they never added it."""
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == channel.id, Friend.line_user_id == line_user_id)
    )
    if friend is None:
        raise NotAFriend(
            "Add the shop's LINE account as a friend first, then open the member card again."
        )
    return friend


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """What the member card shows: whether this LINE account is linked, and to which number."""

    linked: bool
    member_number: str | None = None
    linked_at: datetime | None = None


def _status(session: Session, link: MemberLink | None) -> LinkStatus:
    if link is None:
        return LinkStatus(linked=False)
    member = session.get_one(Member, link.member_id)
    return LinkStatus(linked=True, member_number=member.member_number, linked_at=link.linked_at)


def liff_status(
    session: Session,
    *,
    channel: Channel,
    id_token: str,
    nonce: str | None,
    settings: Settings,
    now: datetime,
) -> LinkStatus:
    """The link status of the LINE user the ID token names."""
    claims = verify_id_token(
        session,
        channel=channel,
        id_token=id_token,
        nonce=nonce,
        consume=False,
        settings=settings,
        now=now,
    )
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == channel.id, Friend.line_user_id == claims.sub)
    )
    return _status(session, None if friend is None else active_link_of_friend(session, friend.id))


def link_by_liff(
    session: Session,
    *,
    channel: Channel,
    id_token: str,
    nonce: str | None,
    proof: verification.Proof,
    settings: Settings,
    now: datetime,
) -> LinkStatus:
    """Link the ID token's LINE user to the member the proof identifies."""
    claims = verify_id_token(
        session,
        channel=channel,
        id_token=id_token,
        nonce=nonce,
        consume=True,
        settings=settings,
        now=now,
    )
    friend = friend_of(session, channel=channel, line_user_id=claims.sub)
    member = verification.verify(
        session,
        shop=session.get_one(Shop, channel.shop_id),
        proof=proof,
        line_user_id=claims.sub,
        settings=settings,
        now=now,
    )
    link = link_member(
        session,
        channel=channel,
        friend=friend,
        member=member,
        method=LinkMethod.LIFF,
        actor=member_actor(claims.sub),
        now=now,
    )
    return _status(session, link)


def unlink_by_liff(
    session: Session,
    *,
    channel: Channel,
    id_token: str,
    nonce: str | None,
    settings: Settings,
    now: datetime,
) -> LinkStatus:
    """End the link of the ID token's LINE user (the member's own choice)."""
    claims = verify_id_token(
        session,
        channel=channel,
        id_token=id_token,
        nonce=nonce,
        consume=True,
        settings=settings,
        now=now,
    )
    friend = friend_of(session, channel=channel, line_user_id=claims.sub)
    unlink_friend(
        session, friend=friend, actor=member_actor(claims.sub), reason="member (LIFF)", now=now
    )
    return LinkStatus(linked=False)

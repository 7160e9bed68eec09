"""LINE's account-link flow (Messaging API): link token → shop login page → nonce → event.

1. :func:`start` issues a link token for a friend and pushes them the login page's URL. The URL
   names the friend and is signed with the hub's key, so the page knows which LINE user is
   trying (for throttling) and a link token cannot be paired with another friend.
2. :func:`begin` runs when the login form is posted: it verifies the member (same proofs and
   throttle as the member card), refuses early if the shop's policy would refuse the link, and
   returns the LINE dialog URL with a fresh single-use nonce bound to the member and LINE user.
3. :func:`complete` runs on the ``accountLink`` event: a valid nonce links the member; a failed
   result, or an unknown, used, expired or misdirected nonce, links nothing and is audited.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from core import audit, crypto
from core.errors import BadRequest, HubError
from core.tenancy import Channel, Shop, get_channel
from idlink import friends, service, verification
from idlink.errors import LineUnavailable, LinkRefused
from idlink.models import Friend, LinkMethod, LinkNonce, Member, MemberLink, NoncePurpose

LOGIN_PATH = "/idlink/account-link"
DIALOG_PATH = "/dialog/bot/accountLink"
_RETRY_KEY_NAMESPACE = uuid.UUID("6f1d0c55-2a55-4c1e-9d7e-1b2f1f6c2a10")


class InvalidLoginLink(BadRequest):
    """The login page's link was altered or belongs to another channel."""


class LineRefused(HubError):
    """LINE refused a request the hub made (an unknown user, a revoked channel token)."""

    status_code = 502


def _signature(channel: Channel, friend_id: int, link_token: str) -> str:
    return crypto.box().blind_index(f"account-link\0{channel.id}\0{friend_id}\0{link_token}")[:32]


def login_url(settings: Settings, *, channel: Channel, friend: Friend, link_token: str) -> str:
    """The hub's login page for this friend and link token, signed."""
    query = urlencode(
        {
            "linkToken": link_token,
            "friend": friend.id,
            "sig": _signature(channel, friend.id, link_token),
        }
    )
    return f"{settings.public_url}{LOGIN_PATH}/{channel.line_channel_id}?{query}"


def start(
    session: Session,
    *,
    channel: Channel,
    friend: Friend,
    settings: Settings,
    actor: str | None = None,
    ip: str | None = None,
) -> str:
    """Issue a link token and push the friend the login page's URL; return that URL. Audited
    as ``actor`` (staff or a token), else as the friend asking for it.

    Raises RetriableError/FatalError from LINE; callers in a request use :func:`start_for_staff`.
    """
    client = service.line_client(channel, settings)
    link_token = client.issue_link_token(friend.line_user_id)
    url = login_url(settings, channel=channel, friend=friend, link_token=link_token)
    text = (
        "会員証とこのLINEアカウントを連携するには、10分以内に次のページを開いてください。\n"
        "To link your membership to this LINE account, open this page within 10 minutes:\n"
        f"{url}"
    )
    # Derived from the link token: a retried push of the same link is delivered at most once.
    retry_key = str(uuid.uuid5(_RETRY_KEY_NAMESPACE, link_token))
    client.push_text(friend.line_user_id, text, retry_key=retry_key)
    audit.record(
        session,
        shop_id=channel.shop_id,
        actor=actor or service.member_actor(friend.line_user_id),
        action="idlink.account_link_started",
        subject_type="friend",
        subject_id=friend.id,
        ip=ip,
    )
    return url


def start_for_staff(
    session: Session,
    *,
    shop: Shop,
    friend_id: int,
    settings: Settings,
    actor: str,
    ip: str | None = None,
) -> str:
    """Staff send a friend the account-link message; LINE failures become hub errors."""
    friend = service.shop_friend(session, shop=shop, friend_id=friend_id)
    channel = session.get_one(Channel, friend.channel_id)
    try:
        return start(session, channel=channel, friend=friend, settings=settings, actor=actor, ip=ip)
    except RetriableError as exc:
        raise LineUnavailable(f"{exc}; try again in a moment") from exc
    except FatalError as exc:
        raise LineRefused(f"{exc}; has the friend blocked the account?") from exc


def login_context(
    session: Session, *, line_channel_id: str, link_token: str, friend_id: int, sig: str
) -> tuple[Channel, Friend]:
    """The channel and friend a login page link was made for; InvalidLoginLink if altered."""
    channel = get_channel(session, line_channel_id)
    friend = session.get(Friend, friend_id)
    if (
        friend is None
        or friend.channel_id != channel.id
        or not hmac.compare_digest(_signature(channel, friend_id, link_token), sig)
    ):
        raise InvalidLoginLink(
            "This link is not valid. Ask for a new one from the shop's LINE account."
        )
    return channel, friend


def begin(
    session: Session,
    *,
    channel: Channel,
    friend: Friend,
    link_token: str,
    proof: verification.Proof,
    settings: Settings,
    now: datetime,
) -> str:
    """Verify the member and return LINE's account-link dialog URL with a new nonce."""
    actor = service.member_actor(friend.line_user_id)
    member = verification.verify(
        session,
        shop=session.get_one(Shop, channel.shop_id),
        proof=proof,
        line_user_id=friend.line_user_id,
        settings=settings,
        now=now,
    )
    service.ensure_linkable(session, channel=channel, friend=friend, member=member, actor=actor)
    issued = service.issue_nonce(
        session,
        channel=channel,
        purpose=NoncePurpose.ACCOUNT_LINK,
        now=now,
        member_id=member.id,
        line_user_id=friend.line_user_id,
    )
    query = urlencode({"linkToken": link_token, "nonce": issued.nonce})
    return f"{settings.line_access_url}{DIALOG_PATH}?{query}"


def complete(
    session: Session,
    *,
    channel: Channel,
    line_user_id: str,
    link: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> MemberLink | None:
    """Apply an ``accountLink`` event; return the link made, or None (recorded why)."""
    nonce = link.get("nonce")
    stored = (
        service.find_nonce(session, channel=channel, purpose=NoncePurpose.ACCOUNT_LINK, nonce=nonce)
        if isinstance(nonce, str) and nonce
        else None
    )

    def reject(action: str, reason: str) -> None:
        audit.record(
            session,
            shop_id=channel.shop_id,
            actor=service.member_actor(line_user_id),
            action=action,
            subject_type="line_user",
            subject_id=line_user_id,
            now=now,
            reason=reason,
            member_id=stored.member_id if stored else None,
        )

    if link.get("result") != "ok":
        if stored is not None and stored.used_at is None:
            stored.used_at = now
        reject("idlink.account_link_failed", "LINE reported result: failed")
        return None
    reason = _nonce_problem(stored, line_user_id=line_user_id, now=now)
    if reason is not None or stored is None or stored.member_id is None:
        reject("idlink.account_link_rejected", reason or "nonce names no member")
        return None
    stored.used_at = now
    friend = friends.get_or_create_friend(session, channel=channel, line_user_id=line_user_id)
    try:
        return service.link_member(
            session,
            channel=channel,
            friend=friend,
            member=session.get_one(Member, stored.member_id),
            method=LinkMethod.ACCOUNT_LINK,
            actor=service.member_actor(line_user_id),
            now=now,
        )
    except LinkRefused as refusal:
        refusal.record(session, settings=settings, now=now)
        return None


def _nonce_problem(stored: LinkNonce | None, *, line_user_id: str, now: datetime) -> str | None:
    if stored is None:
        return "unknown nonce"
    if stored.used_at is not None:
        return "nonce already used"
    if stored.expires_at <= now:
        return "nonce expired"
    if stored.line_user_id != line_user_id:
        return "nonce issued to another LINE user"
    return None

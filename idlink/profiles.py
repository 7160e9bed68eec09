"""A friend's LINE profile (name, icon, status message, language), fetched again on demand and
when the copy the hub keeps is stale, not only on follow."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from core import audit
from core.clock import as_utc, utcnow
from core.errors import HubError
from core.tenancy import Channel
from idlink import friends
from idlink.models import Friend, FriendStatus
from idlink.service import line_client

# A profile older than this is fetched again when someone looks at the friend.
STALE_AFTER = timedelta(days=7)


class ProfileUnavailable(HubError):
    """LINE did not give the profile (the friend blocked the channel, or LINE is down)."""

    status_code = 502


def is_stale(friend: Friend, *, now: datetime | None = None) -> bool:
    """Whether the kept profile is old enough to fetch again (never for a blocked friend)."""
    if friend.status != FriendStatus.FOLLOWED:
        return False
    fetched = friend.profile_fetched_at
    return fetched is None or as_utc(fetched) < (now or utcnow()) - STALE_AFTER


def refresh(
    session: Session,
    *,
    friend: Friend,
    settings: Settings,
    actor: str | None = None,
    ip: str | None = None,
) -> Friend:
    """Fetch the friend's profile from LINE now and keep it; audited when ``actor`` asked."""
    channel = session.get_one(Channel, friend.channel_id)
    try:
        profile = line_client(channel, settings).get_profile(friend.line_user_id)
    except FatalError as exc:
        raise ProfileUnavailable(
            f"LINE has no profile for this friend now (blocked or gone): {exc}"
        ) from exc
    except RetriableError as exc:
        raise ProfileUnavailable(f"LINE did not answer; try again shortly: {exc}") from exc
    before = friend.display_name
    friends.apply_profile(friend, profile)
    if actor is not None:
        audit.record(
            session,
            shop_id=friend.shop_id,
            actor=actor,
            action="friend.profile_refreshed",
            subject_type="friend",
            subject_id=friend.id,
            display_name=friend.display_name,
            before=before,
            ip=ip,
        )
    return friend


def refresh_if_stale(session: Session, *, friend_id: int, settings: Settings) -> bool:
    """The task's work: fetch the profile again if it is still stale; False if not fetched."""
    friend = session.get(Friend, friend_id)
    if friend is None or not is_stale(friend):
        return False
    try:
        refresh(session, friend=friend, settings=settings)
    except ProfileUnavailable:
        # Marked fetched anyway: a friend LINE has no profile for is not asked again each view.
        friend.profile_fetched_at = utcnow()
        return False
    return True

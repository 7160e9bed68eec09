"""Processing stored LINE webhook events: follow, unfollow, messages, postbacks, account links.

Runs from the stored ``InboundEvent`` row, after the webhook was acknowledged, and is idempotent:
processing the same row twice leaves the same state. Types the hub does not act on are kept as
stored. ``mode: standby`` events update what the hub knows but never send anything.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError
from connectors.line.client import ChannelCredentials, LineClient
from core import audit
from core.clock import from_millis
from core.enqueue import enqueue_after_commit
from core.errors import NotFound
from core.inbox import InboundEvent
from core.tenancy import Channel, ChannelMode
from idlink import account_link, friends
from idlink import service as idlink_service

log = logging.getLogger(__name__)


class UnknownChannel(NotFound):
    """A stored LINE event whose channel is gone (or was never recorded)."""


def line_client(channel: Channel, settings: Settings) -> LineClient:
    """A LINE client for the channel, pointed at the configured LINE API base URL."""
    return LineClient(
        ChannelCredentials(access_token=channel.access_token, api_url=settings.line_api_url)
    )


def handle_line_event(session: Session, stored: InboundEvent, *, settings: Settings) -> None:
    """Apply one stored LINE event to the hub's state."""
    event = stored.payload
    channel = session.get(Channel, stored.channel_id) if stored.channel_id else None
    if channel is None:
        raise UnknownChannel(f"LINE event {stored.id} names no existing channel; kept for staff")
    note_mode(session, channel, stored.event_type, event)
    user_id = (event.get("source") or {}).get("userId")
    if user_id is None:
        log.info("LINE %s event without a user (group/room); kept as stored", stored.event_type)
        return
    occurred_at = from_millis(event["timestamp"])
    match stored.event_type:
        case "follow":
            friend = friends.record_follow(
                session, channel=channel, line_user_id=user_id, occurred_at=occurred_at
            )
            _refresh_profile(friend, channel, settings)
        case "unfollow":
            friends.record_unfollow(
                session, channel=channel, line_user_id=user_id, occurred_at=occurred_at
            )
        case "message":
            friend = friends.get_or_create_friend(session, channel=channel, line_user_id=user_id)
            friends.record_message(
                session,
                friend=friend,
                direction="in",
                message=event.get("message") or {},
                occurred_at=occurred_at,
            )
        case _:
            _handle_other(session, channel, stored, event, settings)


# ``activated``/``deactivated``: a module channel was given or lost the chat (LINE's switch).
_MODE_OF_EVENT = {"activated": ChannelMode.ACTIVE, "deactivated": ChannelMode.STANDBY}


def note_mode(session: Session, channel: Channel, event_type: str, event: dict[str, Any]) -> None:
    """Keep the channel's mode as its newest event tells it: in standby the hub must not send.

    Only a change is written (and audited), so events do not contend for the channel's row; an
    event older than the one that set the mode does not undo it.
    """
    mode = _MODE_OF_EVENT.get(event_type, event.get("mode"))
    if mode not in (ChannelMode.ACTIVE, ChannelMode.STANDBY) or mode == channel.mode:
        return
    timestamp = int(event.get("timestamp") or 0)
    if channel.mode_since is not None and timestamp < channel.mode_since:
        return
    channel.mode, channel.mode_since = mode, timestamp
    standby = mode == ChannelMode.STANDBY
    audit.record(
        session,
        shop_id=channel.shop_id,
        actor="line",
        action=f"channel.{mode}",
        subject_type="channel",
        subject_id=channel.id,
        now=from_millis(timestamp) if timestamp else None,
        reason="LINE put the channel in standby: another module channel has the chat"
        if standby
        else "LINE made the channel active again",
        fix="nothing to do: deliveries wait (pending) and go out once LINE makes it active"
        if standby
        else "none: its waiting deliveries are sent",
    )
    log.warning("channel %s is now %s (LINE %s event)", channel.line_channel_id, mode, event_type)
    if not standby:
        enqueue_after_commit(session, "messaging.dispatch")


def _handle_other(
    session: Session,
    channel: Channel,
    stored: InboundEvent,
    event: dict[str, Any],
    settings: Settings,
) -> None:
    user_id = event["source"]["userId"]
    occurred_at = from_millis(event["timestamp"])
    match stored.event_type:
        case "accountLink":
            account_link.complete(
                session,
                channel=channel,
                line_user_id=user_id,
                link=event.get("link") or {},
                settings=settings,
                now=occurred_at,
            )
        case "postback":
            action = parse_qs((event.get("postback") or {}).get("data", "")).get("action", [""])[0]
            _handle_postback(session, channel, event, user_id, action, settings, occurred_at)
        case _:
            log.debug("LINE %s event kept as stored", stored.event_type)


def _handle_postback(
    session: Session,
    channel: Channel,
    event: dict[str, Any],
    user_id: str,
    action: str,
    settings: Settings,
    occurred_at: datetime,
) -> None:
    """``action=unlink`` ends the member's link; ``action=link`` sends the account-link page."""
    friend = friends.get_or_create_friend(session, channel=channel, line_user_id=user_id)
    if action == "unlink":
        link = idlink_service.active_link_of_friend(session, friend.id)
        if link is not None:
            idlink_service.unlink(
                session,
                link=link,
                actor=idlink_service.member_actor(user_id),
                reason="member (postback)",
                now=occurred_at,
            )
    elif action == "link" and event.get("mode") == "active":
        # In standby another bot answers this user: the hub must not send anything.
        try:
            account_link.start(session, channel=channel, friend=friend, settings=settings)
        except FatalError as exc:
            log.warning("account link for %s not started: %s", user_id, exc)


def _refresh_profile(friend: friends.Friend, channel: Channel, settings: Settings) -> None:
    """Fetch the profile through the SDK. A 404 (user gone) is not worth retrying the event for."""
    try:
        profile = line_client(channel, settings).get_profile(friend.line_user_id)
    except FatalError as exc:
        log.warning("profile of %s not available: %s", friend.line_user_id, exc)
        return
    friends.apply_profile(friend, profile)

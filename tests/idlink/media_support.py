"""Helpers for the media tests: a sandbox user sends media, the hub takes the event in."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from config import Settings
from core.clock import utcnow
from core.db import Database
from core.inbox import InboundEvent
from idlink import friends
from idlink.events import handle_line_event
from idlink.media import intake
from idlink.media.models import Media, MediaState
from idlink.media.storage import DatabaseStorage
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


def sent_media(
    line_sandbox: SandboxServer, channel: ChannelSetup, kind: str, **options: Any
) -> dict[str, Any]:
    """A new sandbox user sends the channel a medium; the event LINE sent for it."""
    user = line_sandbox.state.add_user(display_name="佐藤 花子")
    delivery = line_sandbox.simulate.send_media(
        user.user_id, kind, channel_id=channel.channel_id, **options
    )
    return delivery.events[0]


def take_in(
    db: Database, channel: ChannelSetup, event: dict[str, Any], settings: Settings
) -> Media:
    """Process the message event as the worker does (without a worker): the message and the
    medium's row, its fetch nudged after commit."""
    stored = InboundEvent(
        source="line", event_type="message", channel_id=channel.channel_pk, payload=event
    )
    with db.session_scope() as session:
        handle_line_event(session, stored, settings=settings)
        media = intake.on_line_event(session, stored, settings=settings)
        assert media is not None
        session.expunge(media)
    return media


def add_media(
    db: Database,
    friend_id: int,
    kind: str,
    *,
    data: bytes | None = None,
    content_type: str | None = None,
    state: str = MediaState.STORED,
    file_name: str | None = None,
    size: int | None = None,
) -> int:
    """A message from the friend with its medium already kept (or in ``state``); its id."""
    now = utcnow()
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        line_message_id = str(secrets.randbelow(9 * 10**17) + 10**17)
        message = friends.record_message(
            session,
            friend=friend,
            direction="in",
            message={"type": kind, "id": line_message_id},
            occurred_at=now,
        )
        session.flush()
        media = Media(
            shop_id=friend.shop_id,
            channel_id=friend.channel_id,
            friend_id=friend.id,
            message_id=message.id,
            line_message_id=line_message_id,
            kind=kind,
            state=state,
            content_type=content_type,
            size=len(data) if data is not None else size,
            file_name=file_name,
            occurred_at=now,
        )
        session.add(media)
        session.flush()
        if data is not None:
            DatabaseStorage().put(session, media, data)
            media.storage, media.sha256 = "database", hashlib.sha256(data).hexdigest()
            media.fetched_at = now
        return message.id

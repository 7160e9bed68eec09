"""Helpers for the media tests: a sandbox user sends media, the hub takes the event in."""

from __future__ import annotations

from typing import Any

from config import Settings
from core.db import Database
from core.inbox import InboundEvent
from idlink.events import handle_line_event
from idlink.media import intake
from idlink.media.models import Media
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

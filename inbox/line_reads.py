"""Telling LINE a friend's messages were read, for channels that mark them read by API.

The token LINE gave with the newest message is kept on the conversation; when staff open it,
a task sends ``POST /v2/bot/chat/markAsRead`` with it. A token LINE refuses (expired, already
used) is dropped; an unreachable LINE is retried by the task's caller.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError
from core.tenancy import Channel
from idlink.events import line_client
from inbox.models import Conversation

log = logging.getLogger(__name__)


def send_read_mark(session: Session, conversation_id: int, *, settings: Settings) -> bool:
    """Send the conversation's kept markAsReadToken to LINE once; True when LINE took it."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not conversation.read_token:
        return False
    token, conversation.read_token = conversation.read_token, None
    channel = session.get_one(Channel, conversation.channel_id)
    try:
        line_client(channel, settings).mark_as_read(token)
    except FatalError as exc:
        log.warning("LINE refused the read mark of conversation %s: %s", conversation_id, exc)
        return False
    return True

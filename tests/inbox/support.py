"""Small reads the inbox tests share."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from inbox.models import Conversation


def conversation_id_of(db: Database, friend_id: int) -> int | None:
    """The friend's conversation id, once their first message made it."""
    with db.session_scope() as session:
        return session.scalar(select(Conversation.id).where(Conversation.friend_id == friend_id))

"""What erasing a friend does to their conversation: the internal notes about them (and the
mentions they raised) are deleted, the texts of replies sent to them are cleared, and the read
token LINE gave is dropped. The conversation's counts and times stay, naming nobody."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.db import rows_matched
from inbox.models import Conversation, ConversationNote, ConversationReply, StaffNotification

ERASED = "(erased)"


def erase_of_friends(session: Session, friend_ids: Sequence[int]) -> dict[str, int]:
    """Erase what the inbox keeps about these friends; counts by what was erased."""
    conversation_ids = select(Conversation.id).where(Conversation.friend_id.in_(friend_ids))
    notified = rows_matched(
        session.execute(
            delete(StaffNotification).where(StaffNotification.conversation_id.in_(conversation_ids))
        )
    )
    notes = rows_matched(
        session.execute(
            delete(ConversationNote).where(ConversationNote.conversation_id.in_(conversation_ids))
        )
    )
    replies = rows_matched(
        session.execute(
            update(ConversationReply)
            .where(ConversationReply.conversation_id.in_(conversation_ids))
            .values(summary=ERASED)
        )
    )
    session.execute(
        update(Conversation)
        .where(Conversation.friend_id.in_(friend_ids))
        .values(read_token=None)
        .execution_options(synchronize_session=False)
    )
    return {
        "conversation_notes": notes,
        "staff_notifications": notified,
        "conversation_replies": replies,
    }

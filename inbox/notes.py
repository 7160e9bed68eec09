"""Internal notes on a conversation (never sent to the friend) and the staff they mention.

A note mentions a staff member of the shop by ``@`` and their email, or the part of it before
the ``@`` (``@aoi`` for aoi@example.jp); each one mentioned gets a notification."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.db import rows_matched
from crm.owners import shop_staff
from inbox.live import signal
from inbox.models import Conversation, ConversationNote, StaffNotification
from inbox.schemas import NoteIn, NoteOut, NotificationOut

_MENTION = re.compile(r"@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9.-]+)?)")


def mentioned(session: Session, shop_id: int, body: str) -> list[tuple[int, str]]:
    """The shop's staff a note's ``@`` words name, as (id, email)."""
    words = {word.lower().rstrip(".") for word in _MENTION.findall(body)}
    return [
        (staff_id, email)
        for staff_id, email in shop_staff(session, shop_id)
        if email.lower() in words or email.lower().split("@", 1)[0] in words
    ]


def add_note(session: Session, *, conversation: Conversation, body: NoteIn, author: str) -> NoteOut:
    """Keep a note on the conversation and notify the staff it mentions."""
    note = ConversationNote(
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        author=author[:200],
        body=body.body,
        created_at=utcnow(),
    )
    session.add(note)
    session.flush()
    signal(session, conversation, "note")
    named = mentioned(session, conversation.shop_id, body.body)
    for staff_id, _email in named:
        session.add(
            StaffNotification(
                shop_id=conversation.shop_id,
                staff_user_id=staff_id,
                conversation_id=conversation.id,
                note_id=note.id,
                actor=author[:200],
                created_at=note.created_at,
            )
        )
    audit.record(
        session,
        shop_id=conversation.shop_id,
        actor=author,
        action="conversation.note_added",
        subject_type="conversation",
        subject_id=conversation.id,
        note_id=note.id,
        mentioned=[email for _id, email in named],
    )
    return NoteOut(
        id=note.id,
        author=note.author,
        body=note.body,
        created_at=note.created_at,
        mentioned=[email for _id, email in named],
    )


def notifications(
    session: Session, *, shop_id: int, staff_user_id: int, limit: int = 50
) -> list[NotificationOut]:
    """The staff member's mentions, newest first."""
    rows = session.execute(
        select(StaffNotification, ConversationNote.body)
        .join(ConversationNote, ConversationNote.id == StaffNotification.note_id)
        .where(
            StaffNotification.shop_id == shop_id,
            StaffNotification.staff_user_id == staff_user_id,
        )
        .order_by(StaffNotification.id.desc())
        .limit(limit)
    )
    return [
        NotificationOut(
            id=n.id,
            conversation_id=n.conversation_id,
            note_id=n.note_id,
            actor=n.actor,
            body=body,
            created_at=n.created_at,
            read=n.read_at is not None,
        )
        for n, body in rows
    ]


def unread_count(session: Session, *, shop_id: int, staff_user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffNotification)
            .where(
                StaffNotification.shop_id == shop_id,
                StaffNotification.staff_user_id == staff_user_id,
                StaffNotification.read_at.is_(None),
            )
        )
        or 0
    )


def read_all(session: Session, *, shop_id: int, staff_user_id: int) -> int:
    """Mark the staff member's notifications read; how many were unread."""
    return rows_matched(
        session.execute(
            update(StaffNotification)
            .where(
                StaffNotification.shop_id == shop_id,
                StaffNotification.staff_user_id == staff_user_id,
                StaffNotification.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )
    )
